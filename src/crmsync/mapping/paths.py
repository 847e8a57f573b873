"""Dot paths into records: ``addresses[0].city``, ``custom.fields.loyalty``.

Paths are compiled once (when a contract is compiled) into a tuple of steps, so projecting a record
never re-parses text. A step is a ``str`` (mapping key or canonical model field) or an ``int``
(list index). Reading is total: a missing key, an index out of range or a step into a scalar yields
``None`` instead of raising, because source records are untrusted and sparse.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel

_SEGMENT = re.compile(r"([^.\[\]]+)((?:\[\d+\])*)")
_INDEX = re.compile(r"\[(\d+)\]")

Step = str | int


class PathSyntaxError(ValueError):
    """A path in a contract is not ``name(.name|[n])*``; raised at load time only."""


def parse_path(text: str) -> tuple[Step, ...]:
    """Split ``a.b[0].c`` into ``("a", "b", 0, "c")``; reject anything else with a precise reason."""
    if not isinstance(text, str) or not text:
        raise PathSyntaxError("a path must be a non-empty string")
    steps: list[Step] = []
    for segment in text.split("."):
        match = _SEGMENT.fullmatch(segment)
        if match is None:
            raise PathSyntaxError(
                f"invalid path {text!r}: segment {segment!r} is not a name optionally followed by [index]"
            )
        name = match.group(1)
        if name != name.strip():
            raise PathSyntaxError(f"invalid path {text!r}: segment {segment!r} has surrounding spaces")
        steps.append(name)
        steps.extend(int(i) for i in _INDEX.findall(match.group(2)))
    return tuple(steps)


def format_path(steps: tuple[Step, ...] | list[Step]) -> str:
    """Inverse of :func:`parse_path` for steps that came from it."""
    out = ""
    for step in steps:
        if isinstance(step, int):
            out += f"[{step}]"
        else:
            out += f".{step}" if out else step
    return out


_MODEL_TYPES: set[type] = set()


def _step_into(obj: Any, step: Step) -> Any:
    """One step into something that is neither a dict nor a list (slow path)."""
    cls = obj.__class__
    if cls in _MODEL_TYPES or isinstance(obj, BaseModel):
        _MODEL_TYPES.add(cls)
        return obj.__dict__.get(step) if isinstance(step, str) else None
    if isinstance(obj, Mapping):
        return obj.get(step)
    return None


def read_steps(obj: Any, steps: tuple[Step, ...]) -> Any:
    """Follow ``steps`` through dicts, lists and canonical (pydantic) models; ``None`` when absent.

    Pydantic models are read through ``__dict__`` so a path can only ever reach declared field
    values, never a method or a private attribute.
    """
    for step in steps:
        cls = obj.__class__
        if cls is dict:
            obj = obj.get(step)
        elif cls in _MODEL_TYPES:
            obj = obj.__dict__.get(step)
        elif cls is list:
            if step.__class__ is not int or step >= len(obj):
                return None
            obj = obj[step]
        elif obj is None:
            return None
        else:
            obj = _step_into(obj, step)
    return obj


def make_reader(steps: tuple[Step, ...]) -> Callable[[Any], Any]:
    """A reader specialised for the common one- and two-key paths (the projector's hot loop)."""
    if len(steps) == 1 and isinstance(steps[0], str):
        key = steps[0]

        def read1(obj: Any) -> Any:
            cls = obj.__class__
            if cls is dict:
                return obj.get(key)
            if cls in _MODEL_TYPES:
                return obj.__dict__.get(key)
            return read_steps(obj, steps)

        return read1
    if len(steps) == 2 and isinstance(steps[0], str) and isinstance(steps[1], str):
        first, second = steps
        tail = steps[1:]

        def read2(obj: Any) -> Any:
            cls = obj.__class__
            if cls is dict:
                obj = obj.get(first)
            elif cls in _MODEL_TYPES:
                obj = obj.__dict__.get(first)
            else:
                return read_steps(obj, steps)
            cls = obj.__class__
            if cls is dict:
                return obj.get(second)
            if cls in _MODEL_TYPES:
                return obj.__dict__.get(second)
            return None if obj is None else read_steps(obj, tail)

        return read2
    return lambda obj: read_steps(obj, steps)


class CompiledPath:
    """A parsed path plus what the projector needs to report where a value came from."""

    __slots__ = ("head", "read", "rest", "steps", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.steps = parse_path(text)
        head = self.steps[0]
        self.head: str = head if isinstance(head, str) else ""
        self.rest = format_path(self.steps[1:])
        self.read: Callable[[Any], Any] = make_reader(self.steps)

    def __repr__(self) -> str:
        return f"CompiledPath({self.text!r})"
