"""Alembic, driven from code: no ``alembic.ini``, the scripts ship inside the package.

An installed wheel can therefore migrate its own database: :func:`upgrade` builds the Alembic
configuration in memory, hands it the store's connection (never a URL, so no password reaches
Alembic's config or logs), and runs ``migrations/env.py`` from the package directory.

Concurrent openers are safe: on SQLite the migration transaction starts with ``BEGIN IMMEDIATE``
(one writer at a time), on PostgreSQL ``env.py`` takes a transaction-scoped advisory lock before
reading the current revision, so the second process waits and then finds the schema at head.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import threading
from pathlib import Path
from typing import Final

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from crmsync.store.database import SQLITE_BEGIN_OPTION
from crmsync.store.errors import MigrationError, StoreError, translate_error
from crmsync.store.schema import VERSION_TABLE

log = logging.getLogger(__name__)

MIGRATIONS_DIR: Final = Path(__file__).resolve().parent / "migrations"
VERSIONS_DIR: Final = MIGRATIONS_DIR / "versions"
FILE_TEMPLATE: Final = "%%(rev)s_%%(slug)s"
PG_MIGRATION_LOCK_KEY: Final = 0x63726D73796E63  # "crmsync" as an int: the advisory lock's key

_REV_FILE = re.compile(r"^(\d{4})_\w*\.py$")

_VERSION = sa.table(VERSION_TABLE, sa.column("version_num", sa.String))

ALEMBIC_LOCK = threading.Lock()
"""Alembic keeps the running migration in module globals (``alembic.context``, ``alembic.op``), so
two threads of one process must not run it at once; processes are serialized by the database."""


def alembic_config(
    connection: Connection | None = None,
    *,
    versions_dir: Path | None = None,
    target_metadata: MetaData | None = None,
) -> Config:
    """The Alembic configuration, built in code. ``connection`` is what ``env.py`` migrates.

    ``versions_dir`` and ``target_metadata`` replace the packaged revisions and
    :data:`crmsync.store.schema.metadata` (tests use them to exercise revision writing).
    """
    config = Config()
    config.set_main_option("path_separator", "os")  # paths may contain spaces
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("version_locations", str(versions_dir or VERSIONS_DIR))
    if target_metadata is not None:
        config.attributes["target_metadata"] = target_metadata
    if importlib.util.find_spec("ruff") is not None:  # format new revisions like the rest of the code
        hooks = {
            "hooks": "ruff_fix, ruff_format",
            "ruff_fix.type": "module",
            "ruff_fix.module": "ruff",
            "ruff_fix.options": "check --fix --quiet REVISION_SCRIPT_FILENAME",
            "ruff_format.type": "module",
            "ruff_format.module": "ruff",
            "ruff_format.options": "format --quiet REVISION_SCRIPT_FILENAME",
        }
        for key, value in hooks.items():
            config.set_section_option("post_write_hooks", key, value)
    config.set_main_option("file_template", FILE_TEMPLATE)
    config.set_main_option("truncate_slug_length", "40")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def script_directory(versions_dir: Path | None = None) -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(versions_dir=versions_dir))


def head_revision(versions_dir: Path | None = None) -> str:
    """The revision this code expects; the store has one linear history, so exactly one head."""
    heads = script_directory(versions_dir).get_heads()
    if len(heads) != 1:
        raise MigrationError(
            f"the store's migrations must have exactly one head, found {sorted(heads)}: "
            "merge the branches (alembic merge) before shipping"
        )
    return heads[0]


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at; ``None`` for a database the store never migrated.

    Read directly rather than through Alembic's MigrationContext, which logs at INFO on every
    call: opening a store that is already at head should be silent.
    """
    if not sa.inspect(connection).has_table(VERSION_TABLE):
        return None
    versions = connection.execute(sa.select(_VERSION.c.version_num)).scalars().all()
    if len(versions) > 1:
        raise MigrationError(f"the database has several schema heads {sorted(versions)}; merge them first")
    return versions[0] if versions else None


def _known(revision: str, versions_dir: Path | None) -> bool:
    try:
        return script_directory(versions_dir).get_revision(revision) is not None
    except CommandError:
        return False


def next_revision_id(versions_dir: Path | None = None) -> str:
    """``0002``, ``0003``...: ids follow the file names, so ``ls versions/`` reads as the history."""
    folder = versions_dir or VERSIONS_DIR
    numbers = [int(m.group(1)) for p in folder.iterdir() if (m := _REV_FILE.match(p.name))]
    return f"{max(numbers, default=0) + 1:04d}"


def upgrade(
    engine: Engine, revision: str = "head", *, display: str = "", versions_dir: Path | None = None
) -> None:
    """Bring the database to ``revision`` in one transaction; a no-op when it is already there.

    The cheap check (one read of the version table) runs first, so opening a store that is at head
    costs no lock and loads no migration scripts.
    """
    try:
        with engine.connect() as connection:
            before = current_revision(connection)
            connection.rollback()
            if revision == "head" and before == head_revision(versions_dir):
                return
            if before is not None and not _known(before, versions_dir):
                raise MigrationError(
                    f"{display} is at schema revision {before!r}, which this version of crmsync does not "
                    "know: a newer crmsync migrated it. Upgrade crmsync (downgrades are never automatic).",
                    operation="migrate",
                )
            connection.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
            with ALEMBIC_LOCK:
                command.upgrade(alembic_config(connection, versions_dir=versions_dir), revision)
            after = current_revision(connection)
            connection.rollback()
    except StoreError:
        raise
    except CommandError as exc:
        raise MigrationError(f"migrating {display} failed: {exc}", operation="migrate") from exc
    except SQLAlchemyError as exc:
        error = translate_error(exc, operation="migrate", display=display)
        if type(error) is StoreError:
            error = MigrationError(error.message, operation="migrate")
        raise error from exc
    if before != after:
        log.info("store schema migrated from %s to %s (%s)", before or "empty", after, display)
