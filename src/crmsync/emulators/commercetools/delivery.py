"""Subscription delivery: Messages and change notifications pushed as Google Pub/Sub push requests.

What a receiver behind a Pub/Sub push subscription sees: ``POST`` of
``{"message": {"data": base64(payload), "attributes": {}, "messageId", "message_id", "publishTime",
"publish_time"}, "subscription": "projects/emulator/subscriptions/<project>"}``; the payload is the
platform's delivery payload in ``Platform`` or ``CloudEvents`` format.

Delivery is at-least-once and unordered, like the real chain: a background task sends each item,
retries any answer other than 102/200/201/202/204 with exponential backoff (Pub/Sub keeps the
``messageId`` on redelivery), sends a share of items twice (``duplicate_rate``; a platform-side
duplicate, so it gets a new ``messageId``) and holds a share back so they arrive after later items
(``reorder_rate``). ``drain`` waits until nothing is outstanding.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import random
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

from ._util import iso_millis, new_id
from .messages import Change

log = logging.getLogger(__name__)

ACK_STATUSES = frozenset({102, 200, 201, 202, 204})
REORDER_WINDOW = 8  # a held-back item arrives after up to this many later ones
USER_AGENT = "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)"
_COMMON_MESSAGE_FIELDS = (
    "id", "version", "sequenceNumber", "resource", "resourceVersion", "resourceUserProvidedIdentifiers",
    "createdAt", "lastModifiedAt",
)  # fmt: skip
_PLURAL = {"customer": "customers", "key-value-document": "custom-objects", "category": "categories"}


def message_payload(
    project_key: str, message: dict[str, Any], max_bytes: int | None = None
) -> dict[str, Any]:
    """Platform-format payload of a Message; type fields dropped (``payloadNotIncluded``) when too large."""
    payload: dict[str, Any] = {"notificationType": "Message", "projectKey": project_key}
    payload.update((k, v) for k, v in message.items() if k not in ("createdBy", "lastModifiedBy"))
    if max_bytes is not None and len(json.dumps(payload, separators=(",", ":"))) > max_bytes:
        payload = {"notificationType": "Message", "projectKey": project_key}
        payload.update((k, message[k]) for k in _COMMON_MESSAGE_FIELDS if k in message)
        payload["payloadNotIncluded"] = {"reason": "Payload too large.", "payloadType": message["type"]}
    return payload


def change_payload(project_key: str, change: Change) -> dict[str, Any]:
    """Platform-format ``ResourceCreated`` / ``ResourceUpdated`` / ``ResourceDeleted`` payload."""
    payload: dict[str, Any] = {
        "notificationType": change.kind,
        "projectKey": project_key,
        "resource": {"typeId": change.type_id, "id": change.resource_id},
        "resourceUserProvidedIdentifiers": dict(change.identifiers),
        "version": change.version,
    }
    if change.kind == "ResourceUpdated" and change.old_version is not None:
        payload["oldVersion"] = change.old_version
    payload["modifiedAt"] = change.modified_at
    if change.kind == "ResourceDeleted" and change.data_erasure is not None:
        payload["dataErasure"] = change.data_erasure
    return payload


def cloud_event(project_key: str, platform: dict[str, Any]) -> dict[str, Any]:
    """Wrap a Platform payload as a CloudEvents 1.0 event (``cloudevents-payload.example.json``)."""
    resource = platform["resource"]
    source = f"/{project_key}/{_PLURAL.get(resource['typeId'], resource['typeId'] + 's')}"
    if platform["notificationType"] == "Message":
        kind = platform.get("type") or platform.get("payloadNotIncluded", {}).get("payloadType", "Message")
        return {
            "specversion": "1.0",
            "id": platform["id"],
            "type": f"com.commercetools.{resource['typeId']}.message.{kind}",
            "source": source,
            "subject": resource["id"],
            "time": platform["createdAt"],
            "sequence": str(platform["sequenceNumber"]),
            "sequencetype": "Integer",
            "dataref": f"/{project_key}/messages/{platform['id']}",
            "data": platform,
        }
    return {
        "specversion": "1.0",
        "id": new_id(),
        "type": f"com.commercetools.{resource['typeId']}.change.{platform['notificationType']}",
        "source": source,
        "subject": resource["id"],
        "time": platform["modifiedAt"],
        "sequence": str(platform["version"]),
        "sequencetype": "Integer",
        "data": platform,
    }


def _check_rate(name: str, rate: float) -> None:
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= rate <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, not {rate!r}")


@dataclass
class _Item:
    data: bytes
    message_id: str = ""
    publish_time: str = ""
    attempts: int = 0
    deferred: bool = False
    duplicate: bool = False


@dataclass
class DeliveryStats:
    attempts: int = 0
    delivered: int = 0
    failed_attempts: int = 0
    duplicates: int = 0
    reordered: int = 0
    dropped: int = 0


class SubscriptionDelivery:
    """Outbox plus background sender for one push endpoint."""

    def __init__(
        self,
        url: str,
        project_key: str,
        *,
        payload_format: str = "Platform",
        duplicate_rate: float = 0.0,
        reorder_rate: float = 0.0,
        seed: int | None = None,
        max_payload_bytes: int | None = None,
        retry_backoff: tuple[float, float] = (0.05, 1.0),
        max_attempts: int | None = None,
        concurrency: int = 1,
        timeout: float = 10.0,
    ) -> None:
        if payload_format not in ("Platform", "CloudEvents"):
            raise ValueError(
                f"subscription_format must be 'Platform' or 'CloudEvents', not {payload_format!r}"
            )
        _check_rate("duplicate_rate", duplicate_rate)
        _check_rate("reorder_rate", reorder_rate)
        self.url = url
        self.project_key = project_key
        self.payload_format = payload_format
        self.duplicate_rate = duplicate_rate
        self.reorder_rate = reorder_rate
        self.max_payload_bytes = max_payload_bytes
        self.retry_backoff = retry_backoff
        self.max_attempts = max_attempts
        self.concurrency = max(1, concurrency)
        self.timeout = timeout
        self.stats = DeliveryStats()
        self._rng = random.Random(seed)
        self._queue: deque[_Item] = deque()
        self._lock = threading.Lock()
        self._outstanding = 0
        self._next_message_id = 2070443601311540
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._wakeup: asyncio.Event | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None
        self._waiting: dict[int, tuple[asyncio.TimerHandle, _Item]] = {}  # held back or backing off

    def set_rates(self, *, duplicate_rate: float | None = None, reorder_rate: float | None = None) -> None:
        """Change the duplicate / reorder shares at run time (``None`` keeps a rate); both are
        validated before either changes, and they apply to the next item taken or acknowledged."""
        if duplicate_rate is not None:
            _check_rate("duplicate_rate", duplicate_rate)
        if reorder_rate is not None:
            _check_rate("reorder_rate", reorder_rate)
        with self._lock:
            if duplicate_rate is not None:
                self.duplicate_rate = float(duplicate_rate)
            if reorder_rate is not None:
                self.reorder_rate = float(reorder_rate)

    # -- producer side (any thread) ----------------------------------------------------------------
    def enqueue_change(self, change: Change) -> None:
        """Queue every Message of ``change`` and then its change notification."""
        payloads = [message_payload(self.project_key, m, self.max_payload_bytes) for m in change.messages]
        payloads.append(change_payload(self.project_key, change))
        if self.payload_format == "CloudEvents":
            payloads = [cloud_event(self.project_key, p) for p in payloads]
        items = [_Item(json.dumps(p, separators=(",", ":"), ensure_ascii=False).encode()) for p in payloads]
        with self._lock:
            self._queue.extend(items)
            self._outstanding += len(items)
        self._wake()

    @property
    def outstanding(self) -> int:
        return self._outstanding

    def _wake(self) -> None:
        loop, event = self._loop, self._wakeup
        if loop is None or event is None or loop.is_closed():
            return
        if threading.get_ident() == self._loop_thread:
            event.set()
        else:
            loop.call_soon_threadsafe(event.set)

    # -- lifecycle (in the server's loop) ----------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._wakeup = asyncio.Event()
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        self._workers = [
            asyncio.create_task(self._worker(), name=f"ct-delivery-{i}") for i in range(self.concurrency)
        ]
        if self._queue:
            self._wakeup.set()

    async def stop(self) -> None:
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers = []
        for handle, item in list(self._waiting.values()):  # keep them for the next start
            handle.cancel()
            with self._lock:
                self._queue.append(item)
        self._waiting.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None
        self._loop = None
        self._wakeup = None

    async def drain(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109 - a deadline, not a cancel scope
        """Wait until every queued item was acknowledged; ``TimeoutError`` names what is left."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._outstanding > 0:
            if loop.time() >= deadline:
                raise TimeoutError(
                    f"{self._outstanding} subscription deliveries still outstanding after {timeout}s"
                )
            await asyncio.sleep(0.005)

    # -- sending -----------------------------------------------------------------------------------
    def _take(self) -> _Item | None:
        with self._lock:
            while self._queue:
                item = self._queue.popleft()
                if (
                    not item.deferred
                    and item.attempts == 0
                    and self.reorder_rate
                    and self._rng.random() < self.reorder_rate
                ):
                    item.deferred = True
                    self.stats.reordered += 1
                    if self._queue:  # let a few later items overtake it
                        self._queue.insert(min(len(self._queue), self._rng.randint(1, REORDER_WINDOW)), item)
                        continue
                    self._later(0.02, item)
                    continue
                return item
        return None

    def _later(self, delay: float, item: _Item) -> None:
        assert self._loop is not None
        self._waiting[id(item)] = (self._loop.call_later(delay, self._requeue, item), item)

    def _requeue(self, item: _Item) -> None:
        self._waiting.pop(id(item), None)
        with self._lock:
            self._queue.append(item)
        if self._wakeup is not None:
            self._wakeup.set()

    async def _worker(self) -> None:
        assert self._wakeup is not None
        while True:
            item = self._take()
            if item is None:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            try:
                await self._send(item)
            except asyncio.CancelledError:  # stopping: keep the item for the next start
                with self._lock:
                    self._queue.appendleft(item)
                raise

    def _envelope(self, item: _Item) -> bytes:
        if not item.message_id:
            self._next_message_id += 1
            item.message_id = str(self._next_message_id)
            item.publish_time = iso_millis(datetime.now(UTC))
        message = {
            "data": base64.b64encode(item.data).decode(),
            "attributes": {},
            "messageId": item.message_id,
            "message_id": item.message_id,
            "publishTime": item.publish_time,
            "publish_time": item.publish_time,
        }
        body = {"message": message, "subscription": f"projects/emulator/subscriptions/{self.project_key}"}
        return json.dumps(body, separators=(",", ":")).encode()

    async def _send(self, item: _Item) -> None:
        assert self._session is not None
        body = self._envelope(item)
        item.attempts += 1
        self.stats.attempts += 1
        status: int | None = None
        try:
            async with self._session.post(
                self.url, data=body, headers={"Content-Type": "application/json", "User-Agent": USER_AGENT}
            ) as response:
                status = response.status
                await response.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.debug("subscription delivery to %s failed: %s", self.url, exc)
        if status in ACK_STATUSES:
            self._acked(item)
        else:
            self._failed(item)

    def _acked(self, item: _Item) -> None:
        self.stats.delivered += 1
        if not item.duplicate and self.duplicate_rate and self._rng.random() < self.duplicate_rate:
            self.stats.duplicates += 1
            with self._lock:
                self._queue.append(_Item(item.data, duplicate=True, deferred=True))
                self._outstanding += 1
        with self._lock:
            self._outstanding -= 1

    def _failed(self, item: _Item) -> None:
        self.stats.failed_attempts += 1
        if self.max_attempts is not None and item.attempts >= self.max_attempts:
            self.stats.dropped += 1
            with self._lock:
                self._outstanding -= 1
            return
        base, cap = self.retry_backoff
        delay = min(cap, base * 2 ** (item.attempts - 1)) * (0.5 + self._rng.random() / 2)
        self._later(delay, item)
