"""Running an emulator: in-process (the caller's event loop), in a background thread, or standalone.

Every emulator builds an :class:`aiohttp.web.Application`; this module serves it on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable

from aiohttp import web

LOOPBACK = "127.0.0.1"


class EmulatorServer:
    """Serve an aiohttp application on 127.0.0.1.

    ``await server.start()`` inside a running loop, or ``server.start_in_thread()`` for synchronous
    callers (e.g. a vendor SDK that uses blocking HTTP). ``port=0`` picks a free port; ``base_url``
    tells which.
    """

    def __init__(self, app_factory: Callable[[], web.Application], port: int = 0) -> None:
        self._app_factory = app_factory
        self._port = port
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None
        self.port: int | None = None

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("emulator not started")
        return f"http://{LOOPBACK}:{self.port}"

    async def start(self) -> str:
        app = self._app_factory()
        # In-flight requests get a few seconds to finish at stop (hanging faults end at once).
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=5.0)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, LOOPBACK, self._port, reuse_address=True)
        await self._site.start()
        server = self._site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self._port
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- synchronous use -------------------------------------------------------------------
    def start_in_thread(self) -> str:
        ready = threading.Event()
        errors: list[BaseException] = []

        def _run() -> None:
            loop = asyncio.new_event_loop()
            self._thread_loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:  # pragma: no cover - surfaced to the caller below
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        self._thread = threading.Thread(target=_run, name="emulator", daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        return self.base_url

    def stop_thread(self) -> None:
        if self._thread_loop is not None and self._thread is not None:
            self._thread_loop.call_soon_threadsafe(self._thread_loop.stop)
            self._thread.join(10)
            self._thread = None
            self._thread_loop = None


async def serve_forever(app_factory: Callable[[], web.Application], port: int) -> None:
    """Run one emulator as a standalone server until cancelled (``crmsync emulate ...``)."""
    server = EmulatorServer(app_factory, port)
    await server.start()
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()
    finally:
        await server.stop()
