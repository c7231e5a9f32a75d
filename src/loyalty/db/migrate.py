"""Run Alembic migrations programmatically (`loyalty db upgrade`, tests, the demo).

Migrations live inside the package (`loyalty/migrations`) so an installed `loyalty` can upgrade any
database without a checkout. Each product area owns an Alembic *branch* (label = area name) whose first
revision `depends_on` the areas it builds on; `upgrade("heads")` applies them all in dependency order.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(engine: Engine | None = None, url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if engine is not None:
        cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, target: str = "heads") -> None:
    """Bring the database at `engine` up to `target` (all branch heads by default).

    Also builds any index a killed bulk import had deferred (see `db.deferred_indexes`).
    """
    command.upgrade(alembic_config(engine), target)
    if target == "heads":
        from loyalty.db import deferred_indexes

        deferred_indexes.restore_on(engine)


def downgrade(engine: Engine, target: str = "base") -> None:
    command.downgrade(alembic_config(engine), target)
