"""Reference expansion (``?expand=paymentInfo.payments[*]``), as the platform does it.

An expansion path names Reference fields (``{"typeId", "id"}``) with ``.`` between fields and
``[*]`` (or ``[n]``) for array elements; each reference reached gets ``obj``: the referenced
resource as ``GET`` would return it. References the emulator cannot resolve (a type it does not
model, a deleted resource) stay as they are, like the platform leaves a dangling reference.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable
from typing import Any

Resolver = Callable[[str, str], dict[str, Any] | None]
_STEP = re.compile(r"^(?P<field>[A-Za-z0-9_]+)(?:\[(?P<index>\*|\d+)\])?$")


def expand(resource: dict[str, Any], paths: Iterable[str], resolve: Resolver) -> dict[str, Any]:
    """A copy of ``resource`` with the references on ``paths`` expanded (the original is untouched)."""
    wanted = [p for p in paths if p]
    if not wanted:
        return resource
    out = copy.deepcopy(resource)
    for path in wanted:
        steps = path.split(".")
        if all(_STEP.match(s) for s in steps):
            _walk(out, steps, resolve)
    return out


def _walk(node: Any, steps: list[str], resolve: Resolver) -> None:
    if not steps or not isinstance(node, dict):
        return
    match = _STEP.match(steps[0])
    assert match is not None
    value = node.get(match["field"])
    index = match["index"]
    targets: list[Any]
    if index is None:
        targets = [value]
    elif not isinstance(value, list):
        return
    elif index == "*":
        targets = value
    else:
        targets = value[int(index) : int(index) + 1]
    for target in targets:
        if not isinstance(target, dict):
            continue
        if len(steps) == 1:
            if isinstance(target.get("typeId"), str) and isinstance(target.get("id"), str):
                found = resolve(target["typeId"], target["id"])
                if found is not None:
                    target["obj"] = copy.deepcopy(found)
        else:
            _walk(target, steps[1:], resolve)
