"""``StateStore``: the one object the engine, CLI and worker use to remember things."""

from __future__ import annotations

import logging
import time
from types import TracebackType

from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import SQLAlchemyError

from crmsync.store import migrate as migrations
from crmsync.store._delivered import DeliveredMixin
from crmsync.store._erasure import ErasureMixin
from crmsync.store._identity import IdentityMixin
from crmsync.store._inbox import InboxMixin
from crmsync.store._jobs import JobsMixin
from crmsync.store._leases import LeaseMixin
from crmsync.store._ops import OpsMixin
from crmsync.store._provenance import ProvenanceMixin
from crmsync.store._rates import RateMixin
from crmsync.store._state import StateMixin
from crmsync.store.database import create_store_engine, display_url, normalize_url
from crmsync.store.errors import StoreUnavailableError, translate_error

log = logging.getLogger(__name__)
_MIGRATE_ATTEMPTS = 6


class StateStore(
    IdentityMixin,
    DeliveredMixin,
    InboxMixin,
    StateMixin,
    OpsMixin,
    LeaseMixin,
    RateMixin,
    JobsMixin,
    ErasureMixin,
    ProvenanceMixin,
):
    """Identity links, delivered projections, the inbox, positions and checkpoints, in one database.

    Thread-safe on SQLite files and PostgreSQL (a connection pool; each call is its own
    transaction). Several processes may share a SQLite file (WAL; one writer at a time) or a
    PostgreSQL database. The in-memory ``sqlite://`` store is for single-threaded tests only.

    Use :meth:`open`, not the constructor; close it (or use it as a context manager) when done.
    """

    @classmethod
    def open(cls, url: str | URL, *, migrate: bool = True) -> StateStore:
        """Connect to ``url`` and, unless ``migrate=False``, bring the schema to head.

        Raises :class:`~crmsync.store.errors.StoreConfigError` for an unsupported URL,
        :class:`~crmsync.store.errors.StoreUnavailableError` when the database cannot be reached and
        :class:`~crmsync.store.errors.MigrationError` when the schema cannot be migrated.
        """
        parsed = normalize_url(url)
        engine = create_store_engine(parsed)
        store = cls(engine, parsed)
        try:
            if migrate:
                store.migrate()
        except BaseException:
            engine.dispose()
            raise
        log.debug("state store opened: %s", store.url_for_display)
        return store

    def close(self) -> None:
        """Release every pooled connection. Idempotent."""
        self._engine.dispose()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"StateStore({self.url_for_display!r})"

    def migrate(self) -> None:
        """Apply pending migrations (none: returns after one read of the version table).

        SQLite answers "database is locked" at once (without waiting out the busy timeout) when a
        connection's read snapshot must be upgraded to a write while another opener is migrating;
        the migration is idempotent, so a few short retries let the later opener find the schema
        at head instead of failing.
        """
        for attempt in range(_MIGRATE_ATTEMPTS):
            try:
                migrations.upgrade(self._engine, display=self.url_for_display)
                return
            except StoreUnavailableError:
                if self.backend != "sqlite" or attempt == _MIGRATE_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * (2**attempt))

    def current_revision(self) -> str | None:
        """The schema revision of the database; ``None`` before the first migration."""
        try:
            with self._engine.connect() as conn:
                return migrations.current_revision(conn)
        except SQLAlchemyError as exc:
            raise translate_error(exc, operation="current_revision", display=self.url_for_display) from exc

    @staticmethod
    def head_revision() -> str:
        """The schema revision this version of crmsync expects."""
        return migrations.head_revision()

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, for schema tooling and tests; application code uses the methods."""
        return self._engine

    @property
    def url(self) -> URL:
        """The normalized URL (a SQLAlchemy ``URL``: its ``str()`` masks the password)."""
        return self._url

    @staticmethod
    def display(url: str | URL) -> str:
        """Mask the password of a store URL without opening it (for config dumps and errors)."""
        return display_url(normalize_url(url))
