"""Per-record run-time pieces of a compiled contract: the run state and the selectors.

:class:`RunState` carries what one projection accumulates besides its output: warnings, the source
fields read (for ``crmsync mapping preview``) and the selector bookkeeping that lets a value read
through the ``address`` selector be reported as ``addresses[1].mobile``.
"""

from __future__ import annotations

from typing import Any

from crmsync.mapping.contract import Selector
from crmsync.mapping.paths import CompiledPath


class RunState:
    """What one projection accumulates besides its output."""

    __slots__ = ("memo", "prefix", "recording", "selected", "sources", "stage", "warnings")

    def __init__(self, stage: str, *, recording: bool) -> None:
        self.stage = stage
        self.recording = recording
        self.warnings: list[str] = []
        self.sources: dict[str, Any] = {}
        self.selected: dict[str, str] = {}  # selector name -> real source path of the chosen element
        self.prefix = ""  # source path of the template element being mapped, with a trailing "."
        # (template, element) -> (element, mapped element)
        self.memo: dict[tuple[int, int], tuple[Any, dict[str, Any]]] = {}

    def source_key(self, path: CompiledPath) -> str:
        """Where ``path`` points in the *source record*, with selectors resolved to list indices."""
        if not self.prefix:
            base = self.selected.get(path.head)
            if base is not None:
                rest = path.rest
                if not rest:
                    return base
                return base + rest if rest.startswith("[") else f"{base}.{rest}"
        return self.prefix + path.text

    def record(self, path: CompiledPath, value: Any) -> None:
        if self.recording and value is not None:
            _flatten_into(self.sources, self.source_key(path), value)


def _flatten_into(out: dict[str, Any], key: str, value: Any) -> None:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            if v is not None:
                _flatten_into(out, f"{key}.{k}", v)
    elif isinstance(value, list) and value:
        for i, v in enumerate(value):
            if v is not None:
                _flatten_into(out, f"{key}[{i}]", v)
    else:
        out[key] = value


def blank(value: Any) -> bool:
    """Inlined :func:`~crmsync.mapping.transforms.is_empty` for the hot loop."""
    if value is None:
        return True
    cls = value.__class__
    if cls is str:
        return not value.strip()
    if cls is dict or cls is list:
        return not value
    return False


class CompiledSelector:
    __slots__ = ("name", "picks", "source")

    def __init__(self, name: str, selector: Selector) -> None:
        self.name = name
        self.source = CompiledPath(selector.from_)
        self.picks: list[tuple[CompiledPath, CompiledPath | None, Any] | None] = []
        for pick in selector.pick:
            if pick.match is None:
                self.picks.append(None)  # first: true
            else:
                m = pick.match
                equals_path = CompiledPath(m.equals_path) if m.equals_path is not None else None
                self.picks.append((CompiledPath(m.field), equals_path, m.equals))

    def select(self, scope: dict[str, Any], state: RunState) -> tuple[dict[str, Any] | None, int]:
        items = self.source.read(scope)
        if not isinstance(items, list):
            return None, -1
        for pick in self.picks:
            if pick is None:
                for i, element in enumerate(items):
                    if isinstance(element, dict):
                        return element, i
                continue
            field, equals_path, constant = pick
            if equals_path is not None:
                wanted = equals_path.read(scope)
                state.record(equals_path, wanted)
            else:
                wanted = constant
            if wanted is None or isinstance(wanted, dict | list):
                continue
            for i, element in enumerate(items):
                if isinstance(element, dict):
                    got = field.read(element)
                    if got == wanted and isinstance(got, bool) == isinstance(wanted, bool):
                        return element, i
        return None, -1
