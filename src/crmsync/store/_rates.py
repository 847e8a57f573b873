"""The shared rate budget's ledger: one row per request sent, per bucket, across every worker.

``rate_try`` is one short transaction: lock the bucket (PostgreSQL: a transaction-scoped advisory
lock on the bucket's hash; SQLite: the single writer lock), count what was sent inside each window,
and either record the new send or say how long to wait. The database clock is the clock on
PostgreSQL, so workers on several machines agree on the windows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crmsync.store._base import StoreBase, utcnow
from crmsync.store.schema import leases, rate_events


class RateMixin(StoreBase):
    def _clock(self, conn: Connection) -> datetime:
        if self.backend == "postgresql":
            value = conn.scalar(sa.select(sa.func.clock_timestamp()))
            assert isinstance(value, datetime)
            return value
        return utcnow()

    def rate_try(self, bucket: str, limits: Sequence[tuple[int, float]]) -> float:
        """Record one send in ``bucket`` if every limit allows it now (returns 0.0); otherwise
        record nothing and return the seconds to wait before trying again."""
        c = rate_events.c
        with self._write("rate_try") as conn:
            if self.backend == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(bucket))))
            now = self._clock(conn)
            wait = 0.0
            held = conn.scalar(sa.select(leases.c.expires_at).where(leases.c.name == f"hold:{bucket}"))
            if held is not None and held > now:
                wait = (held - now).total_seconds()
            longest = max((w for _, w in limits), default=0.0)
            for count, window in limits:
                # the count-th most recent send inside the window, if the window is full (one row)
                nth = conn.scalar(
                    sa.select(c.at)
                    .where(c.bucket == bucket, c.at > now - timedelta(seconds=window))
                    .order_by(c.at.desc())
                    .offset(max(0, count - 1))
                    .limit(1)
                )
                if nth is not None:
                    wait = max(wait, (nth + timedelta(seconds=window) - now).total_seconds())
            if limits:  # pace at the tightest limit's rate (see LocalRateLimiter.delay)
                count, window = min(limits, key=lambda lim: lim[1] / max(1, lim[0]))
                last = conn.scalar(sa.select(sa.func.max(c.at)).where(c.bucket == bucket))
                if last is not None:
                    wait = max(wait, (last + timedelta(seconds=window / max(1, count)) - now).total_seconds())
            if wait > 0:
                return wait
            conn.execute(rate_events.insert().values(bucket=bucket, at=now))
            conn.execute(
                rate_events.delete().where(c.bucket == bucket, c.at < now - timedelta(seconds=longest))
            )
            return 0.0

    def rate_hold(self, bucket: str, seconds: float) -> None:
        """Stop every sender of ``bucket`` for ``seconds`` (a 429's Retry-After)."""
        with self._write("rate_hold") as conn:
            until = self._clock(conn) + timedelta(seconds=max(0.0, seconds))
            insert = self._upsert(leases).values(
                name=f"hold:{bucket}", owner="429", expires_at=until, acquired_at=until
            )
            conn.execute(
                insert.on_conflict_do_update(
                    index_elements=[leases.c.name],
                    set_={"expires_at": insert.excluded.expires_at},
                    where=leases.c.expires_at < insert.excluded.expires_at,
                )
            )
