"""Pure business rules: no I/O, no SQLAlchemy, unit-testable in milliseconds."""
