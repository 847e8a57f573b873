"""Load-time checks of a contract against the canonical model.

Pydantic validates the contract's *syntax*; these checks catch mistakes that would otherwise fail
every single record at run time: an inbound key that is not a canonical field (``frist_name``), an
outbound ``from`` path that does not exist on the canonical record (``address.lin1``), a ``map:``
naming no template, a ``validate``/``identifiers`` path the outbound stage never produces.
"""

from __future__ import annotations

import types
from typing import TYPE_CHECKING, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from crmsync.mapping.paths import Step, format_path, parse_path

if TYPE_CHECKING:
    from crmsync.mapping.contract import Contract, FieldRule

Kind = Literal["model", "list", "dict", "any", "leaf"]
Shape = tuple[Kind, Any]


def shape_of(annotation: Any) -> Shape:
    """Classify a field annotation: a model, a list/dict of something, ``Any`` or a plain value."""
    if annotation is Any:
        return ("any", None)
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        return shape_of(members[0]) if len(members) == 1 else ("leaf", annotation)
    if origin is list:
        return ("list", get_args(annotation)[0])
    if origin is dict:
        return ("dict", get_args(annotation)[1])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return ("model", annotation)
    return ("leaf", annotation)


def _describe(shape: Shape) -> str:
    kind, inner = shape
    if kind == "model":
        return f"an object ({inner.__name__})"
    if kind == "list":
        return "a list"
    return "a value" if kind == "leaf" else "an object"


def _child(shape: Shape, step: Step) -> Shape | str:
    """The shape one step further, or a reason why the step is impossible."""
    kind, inner = shape
    if isinstance(step, int):
        return shape_of(inner) if kind == "list" else f"[{step}]: {_describe(shape)} has no index"
    if kind == "model":
        field = inner.model_fields.get(step)
        if field is None:
            names = ", ".join(inner.model_fields)
            return f"{inner.__name__} has no field {step!r} (fields: {names})"
        return shape_of(field.annotation)
    if kind == "dict":
        return shape_of(inner)
    if kind == "any":
        return ("any", None)
    return f"{step!r}: {_describe(shape)} has no fields"


def canonical_path_problem(text: str, model: type[BaseModel]) -> str | None:
    shape: Shape = ("model", model)
    steps = parse_path(text)
    for i, step in enumerate(steps):
        nxt = _child(shape, step)
        if isinstance(nxt, str):
            where = format_path(steps[:i]) or model.__name__
            return f"{text!r} is not a path of the canonical record ({where}: {nxt})"
        shape = nxt
    return None


class _Checker:
    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        self.problems: list[str] = []
        self.checked_templates: set[tuple[str, Any]] = set()

    def run(self) -> list[str]:
        contract = self.contract
        model = contract.canonical_model
        self.inbound_group(contract.inbound, ("model", model), "inbound")
        self.outbound_group(contract.outbound, "outbound", model)
        self.payload_paths()
        return self.problems

    # -- inbound: keys are canonical fields --------------------------------------------------------

    def inbound_group(self, group: dict[str, Any], shape: Shape, path: str) -> None:
        from crmsync.mapping.contract import FieldRule

        for key, node in group.items():
            where = f"{path}.{key}"
            child = _child(shape, key)
            if isinstance(child, str):
                self.problems.append(f"{where}: {child}")
                continue
            if isinstance(node, FieldRule):
                self.inbound_rule(node, child, where)
            else:
                kind = child[0]
                if kind in ("leaf", "list"):
                    self.problems.append(
                        f"{where}: the canonical field is {_describe(child)}, not an object; "
                        "map it with a rule"
                    )
                else:
                    self.inbound_group(node, child, where)

    def inbound_rule(self, rule: FieldRule, shape: Shape, where: str) -> None:
        kind, inner = shape
        element = shape_of(inner) if kind == "list" else shape
        if rule.map is None:
            if element[0] == "model":
                self.problems.append(
                    f"{where}: the canonical field is {_describe(element)}; use a nested mapping or "
                    f"`map: <template>`"
                )
            return
        template = self.template(rule.map, f"{where}.map")
        if template is None:
            return
        if element[0] not in ("model", "dict", "any"):
            self.problems.append(f"{where}.map: the canonical field is {_describe(shape)}, not an object")
            return
        key = (rule.map, element[1])
        if key not in self.checked_templates:
            self.checked_templates.add(key)
            self.inbound_group(template, element, f"templates.{rule.map}")

    def template(self, name: str, where: str) -> dict[str, Any] | None:
        template = self.contract.templates.get(name)
        if template is None:
            known = ", ".join(sorted(self.contract.templates)) or "none"
            self.problems.append(f"{where}: unknown template {name!r} (templates: {known})")
        return template

    # -- outbound: `from` paths read the canonical record -----------------------------------------

    def outbound_group(self, group: dict[str, Any], path: str, model: type[BaseModel]) -> None:
        from crmsync.mapping.contract import FieldRule

        for key, node in group.items():
            where = f"{path}.{key}"
            if not isinstance(node, FieldRule):
                self.outbound_group(node, where, model)
                continue
            for i, text in enumerate(node.paths):
                problem = canonical_path_problem(text, model)
                if problem:
                    suffix = "" if isinstance(node.from_, str) else f"[{i}]"
                    self.problems.append(f"{where}.from{suffix}: {problem}")
            if node.map is not None:
                self.template(node.map, f"{where}.map")

    # -- validate / identifiers: payload paths must be produced -----------------------------------

    def payload_paths(self) -> None:
        produced = _produced(self.contract.outbound)
        validation = self.contract.validation
        refs = [(f"validate.required[{i}]", p) for i, p in enumerate(validation.required)]
        for i, group in enumerate(validation.at_least_one):
            refs += [(f"validate.at_least_one[{i}][{j}]", p) for j, p in enumerate(group)]
        refs += [(f"validate.formats.{p}", p) for p in validation.formats]
        refs += [(f"validate.patterns.{p}", p) for p in validation.patterns]
        refs += [(f"identifiers.{name}", p) for name, p in self.contract.identifiers.items()]
        for where, text in refs:
            steps = parse_path(text)
            if not any(tuple(steps[:n]) in produced for n in range(1, len(steps) + 1)):
                self.problems.append(f"{where}: {text!r} is not produced by any outbound rule")


def _produced(group: dict[str, Any], prefix: tuple[Step, ...] = ()) -> set[tuple[Step, ...]]:
    """Payload paths that outbound rules write (a rule may produce a whole sub-object)."""
    from crmsync.mapping.contract import FieldRule

    out: set[tuple[Step, ...]] = set()
    for key, node in group.items():
        path = (*prefix, key)
        if isinstance(node, FieldRule):
            out.add(path)
        else:
            out |= _produced(node, path)
    return out


def contract_problems(contract: Contract) -> list[str]:
    """Every semantic problem of ``contract``, each prefixed with its path in the YAML."""
    return _Checker(contract).run()
