"""Compile a :class:`~crmsync.mapping.contract.Contract` into an executable plan.

Everything that can be decided once is decided here — paths parsed into steps, transforms resolved
and their arguments validated, templates linked — so that projecting a record is a walk over small
``__slots__`` objects with no parsing, no registry look-ups and no pydantic work except the final
canonical model validation.

Per-record state and selectors live in :mod:`crmsync.mapping.runtime`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from crmsync.errors import RecordValidationError
from crmsync.mapping.contract import Contract, FieldRule
from crmsync.mapping.paths import CompiledPath, Step
from crmsync.mapping.runtime import CompiledSelector, RunState, blank
from crmsync.mapping.transforms import InvalidValue, TransformDef, TransformFn, TransformRegistry

_MISSING = object()


class CompiledStep:
    __slots__ = ("definition", "fn", "label", "policy")

    def __init__(self, definition: TransformDef, fn: TransformFn, policy: str, label: str) -> None:
        self.definition = definition
        self.fn = fn
        self.policy = policy
        self.label = label


Runner = Callable[[Any, RunState], Any]


class _PlainRead:
    """Marks a rule that is just a path read: the group loop calls the reader without state."""

    __slots__ = ("read",)

    def __init__(self, read: Callable[[Any], Any]) -> None:
        self.read = read


class CompiledRule:
    """One leaf of the mapping tree.

    :meth:`run` is the general interpreter (it also records source fields for previews);
    :meth:`build_fast` returns a closure specialised for the rule's shape, used for bulk projection.
    """

    __slots__ = ("const", "first_reduces", "map_name", "paths", "steps", "target", "template", "where")

    def __init__(self, where: str, target: str) -> None:
        self.where = where  # path of the rule in the contract, for messages
        self.target = target  # path of the produced value in the stage's output
        self.paths: tuple[CompiledPath, ...] = ()
        self.const: Any = _MISSING
        self.steps: tuple[CompiledStep, ...] = ()
        self.first_reduces = False
        self.map_name: str | None = None
        self.template: CompiledGroup | None = None

    def field_name(self, state: RunState) -> str:
        if state.stage == "inbound" and self.paths:
            return state.source_key(self.paths[0])
        return self.target

    def _constant(self) -> Any:
        const = self.const
        return copy.deepcopy(const) if isinstance(const, dict | list) else const

    def run(self, scope: Any, state: RunState) -> Any:
        value: Any
        if self.const is not _MISSING:
            value = self._constant()
        elif len(self.paths) == 1:
            path = self.paths[0]
            value = path.read(scope)
            if self.template is None:
                state.record(path, value)
        else:
            values = []
            for path in self.paths:
                item = path.read(scope)
                state.record(path, item)
                values.append(item)
            value = values if not self.first_reduces else next((v for v in values if not blank(v)), None)
        if self.steps:
            value = self._transform(value, scope, state)
        if self.template is not None and value is not None:
            value = self._apply_template(value, state)
        return value

    def build_fast(self) -> Runner | _PlainRead:
        """A closure computing the same value as :meth:`run` without recording source fields."""
        steps, template = self.steps, self.template
        single = self.paths[0].read if len(self.paths) == 1 else None
        if single is not None and template is None and len(steps) <= 1:
            if not steps:
                return _PlainRead(single)
            head = self.paths[0].steps
            key = head[0] if len(head) == 1 and isinstance(head[0], str) else None
            step = steps[0]
            fn, handles_none, invalid = step.fn, step.definition.handles_none, self._invalid

            def one_step(scope: Any, state: RunState) -> Any:
                # a one-key path on a dict is read inline: this closure runs ~25 times per record
                value = scope.get(key) if key is not None and scope.__class__ is dict else single(scope)
                if value is None and not handles_none:
                    return None
                try:
                    return fn(value, scope)
                except InvalidValue as exc:
                    invalid(step, exc, state)
                    return None

            return one_step
        base = self._base_reader()
        transform, apply_template = self._transform, self._apply_template

        def general(scope: Any, state: RunState) -> Any:
            value = base(scope)
            if steps:
                value = transform(value, scope, state)
            if template is not None and value is not None:
                value = apply_template(value, state)
            return value

        return general

    def _base_reader(self) -> Callable[[Any], Any]:
        if self.const is not _MISSING:
            constant = self._constant
            return lambda scope: constant()
        readers = tuple(p.read for p in self.paths)
        if len(readers) == 1:
            return readers[0]
        if not self.first_reduces:
            return lambda scope: [read(scope) for read in readers]

        def first(scope: Any) -> Any:
            for read in readers:
                value = read(scope)
                if not blank(value):
                    return value
            return None

        return first

    def _transform(self, value: Any, scope: Any, state: RunState) -> Any:
        for step in self.steps:
            if value is None and not step.definition.handles_none:
                continue
            try:
                value = step.fn(value, scope)
            except InvalidValue as exc:
                self._invalid(step, exc, state)
                value = None
        return value

    def _invalid(self, step: CompiledStep, exc: InvalidValue, state: RunState) -> None:
        field = self.field_name(state)
        if step.policy == "drop":
            state.warnings.append(f"{self.where}: dropped {field} ({step.label}: {exc.reason})")
            return
        raise RecordValidationError(
            f"{self.where}: {field} rejected by {step.label}: {exc.reason}", field=field
        )

    def _apply_template(self, value: Any, state: RunState) -> Any:
        template = self.template
        assert template is not None
        base = state.source_key(self.paths[0])
        if isinstance(value, dict | BaseModel):  # source objects inbound, canonical models outbound
            return template.run_element(value, base + ".", state)
        if isinstance(value, list):
            out = []
            for i, element in enumerate(value):
                if not isinstance(element, dict | BaseModel):
                    state.warnings.append(f"{self.where}: skipped {base}[{i}] (not an object)")
                    continue
                mapped = template.run_element(element, f"{base}[{i}].", state)
                if mapped:
                    out.append(mapped)
            return out
        raise RecordValidationError(
            f"{self.where}: {base} must be an object or a list of objects for template {self.map_name!r}",
            field=base,
        )


class CompiledGroup:
    """A nested object of rules; empty values are omitted so output never carries null/blank fields."""

    __slots__ = ("fast", "items")

    def __init__(self) -> None:
        self.items: list[tuple[str, CompiledRule | CompiledGroup]] = []
        # (key, reader, None) for plain path reads, (key, None, runner) for everything else
        self.fast: list[tuple[str, Callable[[Any], Any] | None, Runner | None]] = []

    def finalize(self) -> None:
        self.fast = []
        for key, node in self.items:
            runner = node.build_fast() if isinstance(node, CompiledRule) else node.run
            if isinstance(runner, _PlainRead):
                self.fast.append((key, runner.read, None))
            else:
                self.fast.append((key, None, runner))

    def run(self, scope: Any, state: RunState) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if state.recording:
            for key, node in self.items:
                value = node.run(scope, state)
                if not blank(value):
                    out[key] = value
            return out
        for key, read, runner in self.fast:  # the hot loop: blank() inlined
            value = read(scope) if read is not None else runner(scope, state)  # type: ignore[misc]
            if value is None:
                continue
            cls = value.__class__
            if cls is str:
                if not value or value.isspace():
                    continue
            elif (cls is dict or cls is list) and not value:
                continue
            out[key] = value
        return out

    def run_element(self, element: Any, prefix: str, state: RunState) -> dict[str, Any]:
        """Map one template element (memoised per record: the selected address is also in the list)."""
        key = (id(self), id(element))
        done = state.memo.get(key)
        if done is not None and done[0] is element:
            return done[1]
        saved = state.prefix
        state.prefix = prefix
        try:
            out = self.run(element, state)
        finally:
            state.prefix = saved
        state.memo[key] = (element, out)  # holding the element keeps its id from being reused
        return out

    def origin(self, loc: tuple[Any, ...]) -> str | None:
        """The source path behind a canonical location such as ``("addresses", 2, "country")``."""
        node: CompiledRule | CompiledGroup = self
        out = ""
        i = 0
        while i < len(loc):
            if isinstance(node, CompiledGroup):
                found = dict(node.items).get(str(loc[i]))
                if found is None:
                    return out or None
                node = found
                i += 1
                continue
            if not node.paths:
                return out or None
            out = (out + "." if out else "") + node.paths[0].text
            if node.template is None:
                return out
            if i < len(loc) and isinstance(loc[i], int):
                out += f"[{loc[i]}]"
                i += 1
            node = node.template
        if isinstance(node, CompiledRule) and node.paths:
            out = (out + "." if out else "") + node.paths[0].text
        return out or None


class Plan:
    """A compiled contract."""

    def __init__(self, contract: Contract, registry: TransformRegistry) -> None:
        self.contract = contract
        self.registry = registry
        self._groups: list[CompiledGroup] = []
        self.templates: dict[str, CompiledGroup] = {name: self._new_group() for name in contract.templates}
        for name, group in contract.templates.items():
            self._fill(self.templates[name], group, f"templates.{name}", ())
        self.selectors = [CompiledSelector(name, sel) for name, sel in contract.selectors.items()]
        self.inbound = self._group(contract.inbound, "inbound", ())
        self.outbound = self._group(contract.outbound, "outbound", ())
        self.identifiers = [(name, CompiledPath(text)) for name, text in contract.identifiers.items()]
        self.id_path = CompiledPath(contract.source.id_path)
        for compiled in self._groups:
            compiled.finalize()

    def _new_group(self) -> CompiledGroup:
        group = CompiledGroup()
        self._groups.append(group)
        return group

    def _group(self, group: dict[str, Any], where: str, target: tuple[Step, ...]) -> CompiledGroup:
        compiled = self._new_group()
        self._fill(compiled, group, where, target)
        return compiled

    def _fill(
        self, compiled: CompiledGroup, group: dict[str, Any], where: str, target: tuple[Step, ...]
    ) -> None:
        for key, node in group.items():
            child_target = (*target, key)
            if isinstance(node, FieldRule):
                compiled.items.append((key, self._rule(node, f"{where}.{key}", child_target)))
            else:
                compiled.items.append((key, self._group(node, f"{where}.{key}", child_target)))

    def _rule(self, rule: FieldRule, where: str, target: tuple[Step, ...]) -> CompiledRule:
        compiled = CompiledRule(where, ".".join(str(t) for t in target))
        if "value" in rule.model_fields_set:
            compiled.const = rule.value
        compiled.paths = tuple(CompiledPath(text) for text in rule.paths)
        steps = []
        for i, ref in enumerate(rule.transforms):
            definition, args = self.registry.resolve(ref)
            policy = getattr(args, "on_invalid", "reject")
            steps.append(CompiledStep(definition, definition.build(args), policy, definition.name))
            if i == 0 and len(compiled.paths) > 1:
                compiled.first_reduces = not definition.accepts_list
        if not steps and len(compiled.paths) > 1:
            compiled.first_reduces = True
        compiled.steps = tuple(steps)
        if rule.map is not None:
            compiled.map_name = rule.map
            compiled.template = self.templates[rule.map]
        return compiled

    def scope_for(self, record: dict[str, Any], state: RunState) -> dict[str, Any]:
        """The inbound scope: the record with each selector's choice under the selector's name."""
        if not self.selectors:
            return record
        scope = dict(record)
        for selector in self.selectors:
            element, index = selector.select(scope, state)
            scope[selector.name] = element
            if element is not None:
                state.selected[selector.name] = f"{state.source_key(selector.source)}[{index}]"
        return scope


def compile_contract(contract: Contract, registry: TransformRegistry) -> Plan:
    return Plan(contract, registry)
