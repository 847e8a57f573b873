"""Record-level validation of a projected payload (the contract's ``validate:`` section).

Runs after the outbound stage, on the payload the target would receive, so the rules speak the
target's language (``external_id`` required; at least one of ``email``/``phone_number``). Format
checks are structural and cheap: values were already normalised by transforms (``e164``,
``normalize_email``) and must not be re-parsed for every record.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from crmsync.errors import RecordValidationError
from crmsync.mapping.contract import Validation
from crmsync.mapping.paths import CompiledPath
from crmsync.mapping.transforms import InvalidValue, lookup_country, normalize_email_address

_E164 = re.compile(r"\+[1-9]\d{6,14}")
_LOCALE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*")
_ALPHA2 = re.compile(r"[A-Z]{2}")
_ALPHA3 = re.compile(r"[A-Z]{3}")

Check = Callable[[Any], str | None]


def _email(value: Any) -> str | None:
    if not isinstance(value, str):
        return "not an e-mail address"
    try:
        normalize_email_address(value, lowercase_local=False)
    except InvalidValue as exc:
        return exc.reason
    return None


def _regex(pattern: re.Pattern[str], reason: str, *, country: bool = False) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, str) or not pattern.fullmatch(value):
            return reason
        if country and lookup_country(value) is None:
            return reason
        return None

    return check


FORMAT_CHECKS: dict[str, Check] = {
    "email": _email,
    "e164": _regex(_E164, "not an E.164 phone number (+ and 7 to 15 digits)"),
    "country_alpha2": _regex(_ALPHA2, "not an ISO 3166 alpha-2 country code", country=True),
    "country_alpha3": _regex(_ALPHA3, "not an ISO 3166 alpha-3 country code", country=True),
    "locale": _regex(_LOCALE, "not a locale such as de-DE"),
}


def _present(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, dict | list):
        return bool(value)
    return True


class PayloadValidator:
    """The compiled ``validate:`` section."""

    __slots__ = ("at_least_one", "formats", "patterns", "required")

    def __init__(self, validation: Validation) -> None:
        self.required = [CompiledPath(p) for p in validation.required]
        self.at_least_one = [[CompiledPath(p) for p in group] for group in validation.at_least_one]
        self.formats = [
            (CompiledPath(p), name, FORMAT_CHECKS[name]) for p, name in validation.formats.items()
        ]
        self.patterns = [(CompiledPath(p), re.compile(rx)) for p, rx in validation.patterns.items()]

    def check(self, payload: dict[str, Any]) -> None:
        """Raise :class:`RecordValidationError` with ``field`` = the payload path of the first violation."""
        for path in self.required:
            if not _present(path.read(payload)):
                raise RecordValidationError(f"{path.text} is required", field=path.text)
        for group in self.at_least_one:
            if not any(_present(path.read(payload)) for path in group):
                names = ", ".join(p.text for p in group)
                raise RecordValidationError(f"at least one of {names} is required", field=group[0].text)
        for path, name, check in self.formats:
            value = path.read(payload)
            if value is not None:
                reason = check(value)
                if reason is not None:
                    raise RecordValidationError(f"{path.text}: {reason} (format {name})", field=path.text)
        for path, regex in self.patterns:
            value = path.read(payload)
            if value is None:
                continue
            text = value if isinstance(value, str) else str(value)
            if isinstance(value, dict | list | bool) or regex.search(text) is None:
                raise RecordValidationError(
                    f"{path.text}: does not match the pattern {regex.pattern!r}", field=path.text
                )
