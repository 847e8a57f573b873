"""``KlaviyoEmulator``: a faithful local Klaviyo API (profiles, bulk jobs, events, lists, catalog).

Usage::

    emu = KlaviyoEmulator()                 # rate limits on, as in production
    base_url = await emu.start()            # or emu.start_in_thread() for blocking clients (SDK)
    ...                                     # point the client at base_url (SDK: test_host=base_url)
    emu.find_profiles(email="a@b.com")      # inspect state directly
    emu.find_events(metric="Placed Order", profile_email="a@b.com", unique_id="o-1")
    emu.catalog_items["$custom:::$default:::SKU-1"]["category_ids"]   # also emu.catalog_categories
    emu.write_count()                       # 2xx POST/PATCH/DELETE under /api/ since the last reset
    await emu.stop()

Consent, suppressions and deletions (:mod:`~crmsync.emulators.klaviyo.consent_controls`)::

    pid = emu.seed_profile(email="a@b.com", consent={"email_marketing": "SUBSCRIBED"})
    emu.subscriptions_of(pid); emu.suppressed; emu.deletion_requests
    emu.change_consent(pid, "email_marketing", "UNSUBSCRIBED"); emu.suppress_email("a@b.com")
    emu.confirm_double_opt_in(pid); emu.configure_consent(implicit_email_consent=True)

``processing_lag_seconds`` delays the effect of the 202-without-a-job operations (bulk subscribe /
unsubscribe, data-privacy deletion); 0 applies them before the answer.

Faults (5xx, 429, storms, latency, timeouts, resets; see :mod:`crmsync.emulators.faults`)::

    emu = KlaviyoEmulator(faults=FaultPlan(error_rate=0.2, seed=1))
    emu.set_faults(parse_fault_spec("throttle=0.1,reset=0.01"))    # or PUT /__emulator/faults
    emu.fault_stats; emu.clear_faults()                           # or DELETE /__emulator/faults

``/__emulator/*`` exists only on the emulator: never faulted, rate-limited, authenticated or logged.
State survives ``stop()``/``start()``; every ``start`` builds a fresh aiohttp application over it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from aiohttp import web

from crmsync.emulators._runtime import EmulatorServer, serve_forever
from crmsync.emulators.faults import FaultInjector, FaultPlan
from crmsync.emulators.klaviyo.app import build_app
from crmsync.emulators.klaviyo.consent_controls import ConsentControls
from crmsync.emulators.klaviyo.context import Context, RequestRecord
from crmsync.emulators.klaviyo.fault_wiring import recorder, render
from crmsync.emulators.klaviyo.ids import IdFactory
from crmsync.emulators.klaviyo.jobs import MAX_CATALOG_IN_PROGRESS, BulkJob, CatalogJob, JobManager
from crmsync.emulators.klaviyo.ratelimit import RateLimiter
from crmsync.emulators.klaviyo.store import KList, Metric, Store
from crmsync.emulators.klaviyo.views import (
    CatalogCategoriesView,
    CatalogItemsView,
    event_snapshot,
    find_events,
)


class ProfilesView(Mapping[str, dict[str, Any]]):
    """Read-only ``id -> profile`` mapping; values are plain-dict snapshots taken under the lock."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def __getitem__(self, profile_id: str) -> dict[str, Any]:
        with self._store.lock:
            return self._store.profiles[profile_id].snapshot()

    def __iter__(self) -> Iterator[str]:
        with self._store.lock:
            return iter(list(self._store.order))

    def __len__(self) -> int:
        return len(self._store.profiles)


class KlaviyoEmulator(ConsentControls):
    """A Klaviyo API server on 127.0.0.1 with direct state access and a request log for tests."""

    def __init__(
        self,
        *,
        rate_limits: bool = True,
        job_step_seconds: float = 0.05,
        seed: int | None = None,
        faults: FaultPlan | None = None,
        max_catalog_jobs_in_progress: int = MAX_CATALOG_IN_PROGRESS,
        processing_lag_seconds: float = 0.0,
    ) -> None:
        ids = IdFactory(seed)
        store = Store(ids)
        jobs = JobManager(store, ids, job_step_seconds)
        jobs.max_catalog_in_progress = max_catalog_jobs_in_progress  # the spec's 500, lower in tests
        jobs.processing_lag = processing_lag_seconds
        self._ctx = Context(store=store, ids=ids, jobs=jobs, limiter=RateLimiter(), rate_limits=rate_limits)
        self.fault_injector = FaultInjector(faults, api_prefixes=("/api/",))
        self._server = EmulatorServer(self.app)
        self._thread_server: EmulatorServer | None = None

    # -- serving -----------------------------------------------------------------------------------
    def app(self) -> web.Application:
        application = build_app(self._ctx)
        self.fault_injector.install(application, render, recorder(self._ctx))
        return application

    async def start(self, port: int = 0) -> str:
        self._server = EmulatorServer(self.app, port)
        return await self._server.start()

    async def stop(self) -> None:
        await self._server.stop()

    def start_in_thread(self, port: int = 0) -> str:
        self._server = EmulatorServer(self.app, port)
        return self._server.start_in_thread()

    def stop_thread(self) -> None:
        self._server.stop_thread()

    @property
    def base_url(self) -> str:
        return self._server.base_url

    # -- switches ----------------------------------------------------------------------------------
    def set_rate_limits(self, enabled: bool) -> None:
        """Turn rate limiting on or off; turning it on starts from empty windows."""
        self._ctx.limiter.reset()
        self._ctx.rate_limits = enabled

    @property
    def rate_limits(self) -> bool:
        return self._ctx.rate_limits

    def set_faults(self, plan: FaultPlan) -> None:
        """Inject ``plan``'s failures from the next request on (the seed restarts, storms from now)."""
        self.fault_injector.set_plan(plan)

    def clear_faults(self) -> None:
        self.fault_injector.clear()

    @property
    def fault_plan(self) -> FaultPlan:
        return self.fault_injector.plan

    @property
    def fault_stats(self) -> dict[str, int]:
        return self.fault_injector.stats

    # -- state ---------------------------------------------------------------------------------------
    @property
    def profiles(self) -> ProfilesView:
        return ProfilesView(self._ctx.store)

    @property
    def events(self) -> list[dict[str, Any]]:
        store = self._ctx.store
        with store.lock:
            return [event_snapshot(store, e) for e in store.events]

    @property
    def jobs(self) -> Mapping[str, BulkJob]:
        return self._ctx.jobs.jobs

    @property
    def catalog_jobs(self) -> Mapping[str, CatalogJob]:
        """Catalog bulk create/update/delete jobs by id (``job.kind`` is the JSON:API type)."""
        return self._ctx.jobs.catalog_jobs

    @property
    def catalog_items(self) -> CatalogItemsView:
        """``compound id -> snapshot`` of catalog items (attributes plus sorted ``category_ids``)."""
        return CatalogItemsView(self._ctx.store.catalog)

    @property
    def catalog_categories(self) -> CatalogCategoriesView:
        """``compound id -> snapshot`` of catalog categories (``name`` plus sorted ``item_ids``)."""
        return CatalogCategoriesView(self._ctx.store.catalog)

    def find_events(
        self,
        *,
        metric: str | None = None,
        profile_id: str | None = None,
        profile_email: str | None = None,
        profile_external_id: str | None = None,
        unique_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Stored events matching all the given criteria (``metric`` by name), oldest first."""
        return find_events(
            self._ctx.store,
            metric=metric,
            profile_id=profile_id,
            profile_email=profile_email,
            profile_external_id=profile_external_id,
            unique_id=unique_id,
        )

    @property
    def lists(self) -> Mapping[str, KList]:
        return self._ctx.store.lists

    @property
    def metrics(self) -> Mapping[str, Metric]:
        return self._ctx.store.metrics

    def find_profiles(
        self, *, email: str | None = None, external_id: str | None = None, phone_number: str | None = None
    ) -> list[dict[str, Any]]:
        """Profiles owning all the given identifiers (emails match case-insensitively)."""
        wanted = {"email": email, "external_id": external_id, "phone_number": phone_number}
        store = self._ctx.store
        with store.lock:
            ids: set[str] | None = None
            for name, value in wanted.items():
                if value is None:
                    continue
                owner = store.owner(name, value)
                found = {owner} if owner is not None else set()
                ids = found if ids is None else ids & found
            if ids is None:
                return [store.profiles[pid].snapshot() for pid in store.order]
            return [store.profiles[pid].snapshot() for pid in sorted(ids)]

    # -- request log -------------------------------------------------------------------------------
    @property
    def request_log(self) -> list[RequestRecord]:
        return self._ctx.request_log

    def write_count(self) -> int:
        """2xx POST/PATCH/PUT/DELETE requests under /api/ (profile writes, events, jobs, lists)."""
        return self._ctx.writes

    def request_count(self, operation_id: str | None = None, status: int | None = None) -> int:
        counts = self._ctx.counts
        return sum(
            n
            for (op, code), n in list(counts.items())
            if (operation_id is None or op == operation_id) and (status is None or code == status)
        )

    def reset_counters(self) -> None:
        self._ctx.request_log.clear()
        self._ctx.counts.clear()
        self._ctx.writes = 0


async def serve(port: int, *, rate_limits: bool = True, faults: FaultPlan | None = None) -> None:
    """Run a Klaviyo emulator on 127.0.0.1:``port`` until cancelled (``crmsync emulate klaviyo``)."""
    emulator = KlaviyoEmulator(rate_limits=rate_limits, faults=faults)
    await serve_forever(emulator.app, port)
