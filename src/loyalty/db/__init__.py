"""Storage: tables, engine, migrations, locking."""
