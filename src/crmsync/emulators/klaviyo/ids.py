"""Identifier and timestamp formats Klaviyo uses on the wire.

* profile ids (and bulk job ids) are 26-character ULIDs (Crockford base32, time-ordered) such as
  ``01GDDKASAP8TKDDA2GRZDSVP4H``; the generator is monotonic so that sorting by id equals creation
  order, which keyset pagination relies on;
* list and metric ids are six mixed-case alphanumerics such as ``Y6nRLr``;
* timestamps are ISO 8601 with a ``+00:00`` offset and whole seconds
  (``2023-02-06T16:16:56+00:00``).
"""

from __future__ import annotations

import base64
import random
import string
import time
from datetime import UTC, datetime

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_TO_CROCKFORD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _CROCKFORD)
_SHORT_ALPHABET = string.ascii_letters + string.digits


class IdFactory:
    """Generates ULIDs and short ids from one seedable random source."""

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)
        self._last_ms = -1
        self._last_rand = 0

    def ulid(self) -> str:
        ms = time.time_ns() // 1_000_000
        if ms <= self._last_ms:
            # Same (or earlier, clock step) millisecond: keep order by incrementing the random part.
            ms = self._last_ms
            rand = self._last_rand + 1
        else:
            rand = self._rng.getrandbits(80)
        self._last_ms, self._last_rand = ms, rand
        value = (ms << 80) | (rand & ((1 << 80) - 1))
        # 128 bits as 20 bytes = 32 base32 characters; the last 26 encode the low 130 bits.
        encoded = base64.b32encode(value.to_bytes(20, "big")).decode("ascii")
        return encoded[6:].translate(_TO_CROCKFORD)

    def short(self, length: int = 6) -> str:
        return "".join(self._rng.choice(_SHORT_ALPHABET) for _ in range(length))

    def uuid(self) -> str:
        """A random (version 4 layout) UUID string from the seeded source."""
        value = self._rng.getrandbits(128)
        value = (value & ~(0xF000 << 64)) | (0x4000 << 64)
        value = (value & ~(0xC000 << 48)) | (0x8000 << 48)
        h = f"{value:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def iso(moment: datetime | None) -> str | None:
    """Render a timestamp the way Klaviyo does: whole seconds, explicit ``+00:00``."""
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def parse_datetime(text: str) -> datetime | None:
    """Parse an ISO 8601 date or date-time (``Z`` or offset; naive means UTC). None if invalid."""
    value = text.strip()
    if not value:
        return None
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
