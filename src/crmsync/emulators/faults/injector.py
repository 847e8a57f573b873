"""Applying a :class:`FaultPlan` to an emulator's traffic: one aiohttp middleware, installed outermost.

Outermost, because a fault injected before the request was applied must not touch the emulator's
state or its rate-limit quota (a 429 from the plan must be indistinguishable from the real
limiter's, which consumes nothing), and because the admin paths must bypass the vendor middleware
entirely (no auth, no rate limit, no request-log entry). Faulted requests are still recorded in the
emulator's request log through the ``record`` callback, so a test measuring what a client sent sees
every request; ``NO_RESPONSE`` (0) is the status recorded for a timeout or a reset.

Failure kinds, as a client sees them:

* ``error`` / ``throttle`` / ``storm`` — a vendor-format error response (``render``);
* ``reset`` — the TCP connection is reset (``SO_LINGER`` 0 + abort → RST) without an HTTP response:
  aiohttp clients raise ``ClientOSError`` / ``ServerDisconnectedError`` (``ClientConnectionError``);
* ``timeout`` — no answer for ``timeout_hang_s`` (the client's own timeout fires first), then the
  connection is closed without a response. A hang ends early when the client gives up or the
  emulator shuts down, so a stopping emulator never waits out a hang.

An *after-effect* fault first runs the real handler (state changes, Messages, quota, a request-log
entry with the real status), then throws the response away and answers with the fault instead.

aiohttp clients re-send an idempotent request (GET, HEAD, PUT, DELETE) once after a reset or a
dropped connection (RFC 9112 §9.3.1), so such a call can reach the emulator twice; POST and PATCH
are never re-sent.
"""

from __future__ import annotations

import asyncio
import math
import random
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware

from .admin import add_admin_routes, admin_dispatch
from .plan import ADMIN_PREFIX, FaultPlan

#: Request-log status of a request that got no HTTP response (timeout, reset).
NO_RESPONSE = 0
#: How often a hanging request checks whether the client left or the emulator is stopping.
HANG_POLL_S = 0.02

#: ``render(request, status, retry_after)`` → the vendor's error response (``retry_after`` for 429).
Renderer = Callable[[web.Request, int, int | None], web.StreamResponse]
#: ``record(request, status)`` → append a request-log entry for a request answered before its handler.
Recorder = Callable[[web.Request, int], None]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected failure: ``kind`` is error | throttle | storm | timeout | reset."""

    kind: str
    status: int  # the HTTP status sent, or NO_RESPONSE
    retry_after: int | None = None
    after_effect: bool = False


class _Active:
    """A plan with its random source and the moment it was set (storm schedule origin)."""

    __slots__ = ("epoch", "plan", "rng")

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self.rng = random.Random(plan.seed)
        self.epoch = time.monotonic()

    def latency_s(self) -> float:
        plan = self.plan
        if not plan.latency_ms and not plan.latency_jitter_ms:
            return 0.0
        jitter = self.rng.uniform(-plan.latency_jitter_ms, plan.latency_jitter_ms)
        return max(0.0, plan.latency_ms + jitter) / 1000.0

    def storm_retry_after(self, now: float) -> int | None:
        """Seconds left in the current storm (rounded up, at least 1), or None outside storms."""
        plan = self.plan
        if plan.storm_every_s is None:
            return None
        elapsed = now - self.epoch
        if elapsed < plan.storm_every_s:
            return None
        phase = elapsed % plan.storm_every_s
        if phase >= plan.storm_seconds:
            return None
        return max(1, math.ceil(plan.storm_seconds - phase))

    def draw(self, now: float) -> Fault | None:
        storm = self.storm_retry_after(now)
        if storm is not None:
            return Fault("storm", 429, storm)
        plan = self.plan
        point = self.rng.random()
        kind: str | None = None
        for candidate, rate in (
            ("throttle", plan.throttle_rate),
            ("error", plan.error_rate),
            ("timeout", plan.timeout_rate),
            ("reset", plan.reset_rate),
        ):
            if point < rate:
                kind = candidate
                break
            point -= rate
        if kind is None:
            return None
        if kind == "throttle":
            return Fault("throttle", 429, plan.retry_after_s)
        after = bool(plan.after_effect_rate) and self.rng.random() < plan.after_effect_rate
        if kind == "error":
            return Fault("error", self.rng.choice(plan.error_statuses), after_effect=after)
        return Fault(kind, NO_RESPONSE, after_effect=after)


class _AppState:
    """Per-application flag: set on shutdown so that hanging requests end at once."""

    __slots__ = ("closing",)

    def __init__(self) -> None:
        self.closing = False

    async def on_shutdown(self, _app: web.Application) -> None:
        self.closing = True


class FaultInjector:
    """Holds the current plan, its random source and counters; wires itself into an aiohttp app.

    ``api_prefixes`` is the default scope (paths faults apply to when the plan lists none);
    ``opt_in_prefixes`` are paths inside it that are only faulted when a plan names them
    (commercetools' ``/oauth/``). Thread-safe: a test thread may switch plans while the server runs
    in another thread.
    """

    def __init__(
        self,
        plan: FaultPlan | None = None,
        *,
        api_prefixes: tuple[str, ...] = ("/",),
        opt_in_prefixes: tuple[str, ...] = (),
    ) -> None:
        self.api_prefixes = api_prefixes
        self.opt_in_prefixes = opt_in_prefixes
        self._lock = threading.Lock()
        self._active = _Active(FaultPlan())
        self._stats: Counter[str] = Counter()
        if plan is not None:
            self.set_plan(plan)

    # -- control -----------------------------------------------------------------------------------
    @property
    def plan(self) -> FaultPlan:
        return self._active.plan

    def set_plan(self, plan: FaultPlan) -> None:
        """Replace the plan; the random source restarts from ``plan.seed``, storms from now."""
        if not isinstance(plan, FaultPlan):
            raise TypeError(f"expected a FaultPlan, got {type(plan).__name__}")
        active = _Active(plan)
        with self._lock:
            self._active = active

    def clear(self) -> None:
        """No faults from now on (counters are kept; see ``reset_stats``)."""
        self.set_plan(FaultPlan())

    @property
    def stats(self) -> dict[str, int]:
        """Counts since start or ``reset_stats``: ``requests`` in scope while a plan was active,
        ``passed``, ``delayed``, ``faulted``, and per kind ``error`` (plus ``error_<status>``),
        ``throttle``, ``storm``, ``timeout``, ``reset``; ``after_effect`` counts faults injected
        after the request was applied."""
        with self._lock:
            return dict(self._stats)

    def reset_stats(self) -> None:
        with self._lock:
            self._stats.clear()

    def in_scope(self, plan: FaultPlan, path: str) -> bool:
        if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
            return False
        if plan.paths:
            return path.startswith(plan.paths)
        return path.startswith(self.api_prefixes) and not (
            self.opt_in_prefixes and path.startswith(self.opt_in_prefixes)
        )

    # -- wiring ------------------------------------------------------------------------------------
    def install(self, app: web.Application, render: Renderer, record: Recorder | None = None) -> None:
        """Put the fault middleware in front of ``app``'s own and add the ``/__emulator/faults`` routes.

        Call before the application starts (its middleware list freezes then).
        """
        state = _AppState()
        app.middlewares.insert(0, self._middleware(render, record, state))
        app.on_shutdown.append(state.on_shutdown)
        add_admin_routes(app, self)

    def _count(self, *keys: str) -> None:
        with self._lock:
            self._stats.update(keys)

    def _middleware(self, render: Renderer, record: Recorder | None, state: _AppState) -> Middleware:
        @web.middleware
        async def fault_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
            path = request.path
            if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
                return await admin_dispatch(request)
            active = self._active
            if not active.plan.active or not self.in_scope(active.plan, path):
                return await handler(request)
            self._count("requests")
            delay = active.latency_s()
            if delay > 0:
                self._count("delayed")
                await asyncio.sleep(delay)
            fault = active.draw(time.monotonic())
            if fault is None:
                self._count("passed")
                return await handler(request)
            keys = ["faulted", fault.kind]
            if fault.kind == "error":
                keys.append(f"error_{fault.status}")
            if fault.after_effect:
                keys.append("after_effect")
            self._count(*keys)
            if fault.after_effect:
                await handler(request)  # applied and logged by the emulator; the answer is lost
            elif record is not None:
                record(request, fault.status)
            return await self._answer(request, fault, active.plan, render, state)

        return fault_middleware

    async def _answer(
        self, request: web.Request, fault: Fault, plan: FaultPlan, render: Renderer, state: _AppState
    ) -> web.StreamResponse:
        if fault.status != NO_RESPONSE:
            return render(request, fault.status, fault.retry_after)
        if fault.kind == "timeout":
            await _hang(request, plan.timeout_hang_s, state)
            transport = request.transport
            if transport is not None:
                transport.close()
        else:
            _reset(request)
        # The connection is closing: aiohttp fails to write this and drops it quietly.
        return web.Response(status=503)


async def _hang(request: web.Request, seconds: float, state: _AppState) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (remaining := deadline - loop.time()) > 0 and not state.closing:
        transport = request.transport
        if transport is None or transport.is_closing():
            return  # the client gave up first
        await asyncio.sleep(min(HANG_POLL_S, remaining))


def _reset(request: web.Request) -> None:
    """Abort the connection with a TCP RST (zero linger), so the client sees a reset, not a FIN."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:  # pragma: no cover - platform without SO_LINGER: a plain abort still drops it
            pass
    transport.abort()
