"""Alembic environment for the crmsync state store.

Run by :func:`crmsync.store.migrate.upgrade` (and by ``python -m crmsync.store.revision``), which put
an open SQLAlchemy connection in ``config.attributes["connection"]``. There is no ``alembic.ini`` and
no offline (``--sql``) mode: the store always migrates a live database.
"""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from alembic import context
from alembic.autogenerate.api import AutogenContext

from crmsync.store.errors import MigrationError
from crmsync.store.migrate import PG_MIGRATION_LOCK_KEY
from crmsync.store.schema import VERSION_TABLE, UTCDateTime, metadata


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Keep generated migrations free of crmsync imports: UTCDateTime is DateTime(timezone=True)."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def skip_empty(context_: Any, revision: Any, directives: list[Any]) -> None:
    """With autogenerate, write no file when the schema already matches (revision.py reports it)."""
    if not context.config.attributes.get("skip_empty_autogenerate"):
        return
    script = directives[0]
    if all(ops.is_empty() for ops in script.upgrade_ops_list):
        directives[:] = []


def run_migrations() -> None:
    if context.is_offline_mode():
        raise MigrationError("offline (--sql) migrations are not supported; migrate a live database")
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, sa.Connection):
        raise MigrationError(
            "no database connection: run migrations through StateStore.migrate() "
            "or python -m crmsync.store.revision"
        )
    context.configure(
        connection=connection,
        target_metadata=context.config.attributes.get("target_metadata", metadata),
        version_table=VERSION_TABLE,
        transactional_ddl=True,  # also on SQLite: the store issues BEGIN itself, so DDL rolls back
        render_as_batch=connection.dialect.name == "sqlite",  # ALTER on SQLite = copy-and-move
        compare_type=True,
        render_item=render_item,
        process_revision_directives=skip_empty,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Concurrent openers queue here; the second then reads the new revision and does nothing.
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(PG_MIGRATION_LOCK_KEY)))
        context.run_migrations()


run_migrations()
