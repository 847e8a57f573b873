"""The transform registry: named, typed, registered Python functions — never ``eval``.

A contract names transforms (``trim``, ``{join: {separator: " "}}``, ``{e164: {region_from: ...}}``);
the registry turns each name plus its arguments into a plain callable once, when a contract is
compiled. Arguments are validated by a pydantic model per transform (``extra="forbid"``), so a typo
in a contract is a load-time :class:`~crmsync.errors.MappingError` with the YAML path, not a
per-record surprise.

A transform callable receives ``(value, scope)``: ``scope`` is what the rule reads from (the source
record with its selectors, a template element, or the canonical record), so a transform such as
``e164`` can read a region hint through a path. A transform signals bad *data* by raising
:class:`InvalidValue`; the projector then drops the value with a warning or rejects the record,
following the transform's ``on_invalid`` argument.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

TransformFn = Callable[[Any, Any], Any]
"""A compiled transform: ``(value, scope) -> new value``."""

OnInvalid = Literal["drop", "reject"]


class InvalidValue(Exception):
    """The input is not something this transform can turn into a valid value (bad data, not a bug)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransformArgs(BaseModel):
    """Base for argument models: unknown arguments are load errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ValidatingArgs(TransformArgs):
    """Arguments of a transform that can meet invalid data.

    ``on_invalid: drop`` removes the value and records a warning; ``reject`` fails the record with
    :class:`~crmsync.errors.RecordValidationError` naming the field.
    """

    on_invalid: OnInvalid = "reject"


@dataclass(frozen=True)
class TransformDef:
    """One registered transform.

    ``accepts_list``: the transform consumes the list of values of a multi-path ``from`` (``join``,
    ``first_non_empty``); otherwise such a rule first reduces the list to its first non-empty value.
    ``handles_none``: the transform is called for a missing value too (``default``); otherwise a
    missing value passes through untouched.
    ``shorthand``: the argument a non-mapping argument fills, e.g. ``{join: ", "}``.
    """

    name: str
    factory: Callable[[Any], TransformFn]
    args_model: type[TransformArgs] | None = None
    shorthand: str | None = None
    accepts_list: bool = False
    handles_none: bool = False
    doc: str = ""

    def parse_args(self, raw: Any, *, given: bool) -> TransformArgs | None:
        """Validate the arguments written in a contract; raise ``ValueError`` with a readable reason."""
        model = self.args_model
        if model is None:
            if given and raw is not None:
                raise ValueError(f"transform {self.name!r} takes no arguments")
            return None
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            if self.shorthand is None:
                raise ValueError(f"arguments of {self.name!r} must be a mapping")
            return self._validate({self.shorthand: raw})
        try:
            return model.model_validate(dict(raw))
        except ValidationError as exc:
            if self.shorthand is not None:
                try:  # a mapping may be the shorthand value itself, e.g. {default: {a: 1}}
                    return model.model_validate({self.shorthand: raw})
                except ValidationError:
                    pass
            raise self._error(exc) from None

    def _validate(self, data: dict[str, Any]) -> TransformArgs:
        assert self.args_model is not None
        try:
            return self.args_model.model_validate(data)
        except ValidationError as exc:
            raise self._error(exc) from None

    def _error(self, exc: ValidationError) -> ValueError:
        problems = "; ".join(_describe(err) for err in exc.errors())
        return ValueError(f"invalid arguments for {self.name!r}: {problems}")

    def build(self, args: TransformArgs | None) -> TransformFn:
        return self.factory(args)


def _describe(err: Any) -> str:
    loc = ".".join(str(p) for p in err.get("loc", ()))
    msg = err.get("msg", "invalid")
    if err.get("type") == "value_error" and err.get("ctx", {}).get("error") is not None:
        msg = str(err["ctx"]["error"])
    return f"{loc}: {msg}" if loc else msg


class TransformRegistry:
    """Name → :class:`TransformDef`. The default registry holds the built-ins; extend a copy."""

    def __init__(self) -> None:
        self._defs: dict[str, TransformDef] = {}

    def register(
        self,
        name: str,
        factory: Callable[[Any], TransformFn],
        *,
        args: type[TransformArgs] | None = None,
        shorthand: str | None = None,
        accepts_list: bool = False,
        handles_none: bool = False,
        replace: bool = False,
    ) -> TransformDef:
        if not name.isidentifier():
            raise ValueError(f"transform name {name!r} must be an identifier")
        if name in self._defs and not replace:
            raise ValueError(f"transform {name!r} is already registered")
        if shorthand is not None and (args is None or shorthand not in args.model_fields):
            raise ValueError(f"shorthand {shorthand!r} of transform {name!r} is not one of its arguments")
        definition = TransformDef(
            name=name,
            factory=factory,
            args_model=args,
            shorthand=shorthand,
            accepts_list=accepts_list,
            handles_none=handles_none,
            doc=(factory.__doc__ or "").strip().split("\n", 1)[0],
        )
        self._defs[name] = definition
        return definition

    def transform(
        self,
        name: str,
        *,
        args: type[TransformArgs] | None = None,
        shorthand: str | None = None,
        accepts_list: bool = False,
        handles_none: bool = False,
    ) -> Callable[[Callable[[Any], TransformFn]], Callable[[Any], TransformFn]]:
        """Decorator form of :meth:`register` for a factory ``(args) -> (value, scope) -> value``."""

        def deco(factory: Callable[[Any], TransformFn]) -> Callable[[Any], TransformFn]:
            self.register(
                name,
                factory,
                args=args,
                shorthand=shorthand,
                accepts_list=accepts_list,
                handles_none=handles_none,
            )
            return factory

        return deco

    def get(self, name: str) -> TransformDef:
        try:
            return self._defs[name]
        except KeyError:
            raise ValueError(self._unknown(name)) from None

    def _unknown(self, name: str) -> str:
        close = difflib.get_close_matches(name, list(self._defs), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown transform {name!r}{hint}"

    def resolve(self, ref: Any) -> tuple[TransformDef, TransformArgs | None]:
        """Parse one ``transforms:`` entry (``"trim"`` or ``{name: args}``) into definition + arguments."""
        if isinstance(ref, str):
            definition = self.get(ref)
            return definition, definition.parse_args(None, given=False)
        if isinstance(ref, Mapping) and len(ref) == 1:
            ((name, raw),) = ref.items()
            if not isinstance(name, str):
                raise ValueError(f"transform name must be a string, got {name!r}")
            definition = self.get(name)
            return definition, definition.parse_args(raw, given=True)
        raise ValueError("a transform is a name or a mapping with exactly one key {name: arguments}")

    def copy(self) -> TransformRegistry:
        clone = TransformRegistry()
        clone._defs = dict(self._defs)
        return clone

    def names(self) -> list[str]:
        return sorted(self._defs)

    def __contains__(self, name: object) -> bool:
        return name in self._defs

    def __iter__(self) -> Iterator[TransformDef]:
        return iter(self._defs[n] for n in self.names())


DEFAULT_REGISTRY = TransformRegistry()


def register_transform(
    name: str,
    *,
    args: type[TransformArgs] | None = None,
    shorthand: str | None = None,
    accepts_list: bool = False,
    handles_none: bool = False,
) -> Callable[[Callable[[Any], TransformFn]], Callable[[Any], TransformFn]]:
    """Register a transform on the default registry (used by contracts loaded without a registry)."""
    return DEFAULT_REGISTRY.transform(
        name, args=args, shorthand=shorthand, accepts_list=accepts_list, handles_none=handles_none
    )


def json_type(value: Any) -> str:
    """The JSON name of a value's type, for messages about bad input."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def as_text(value: Any) -> str:
    """A string input; numbers are accepted losslessly, anything else is :class:`InvalidValue`."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise InvalidValue(f"expected text, got {json_type(value)}")


def is_empty(value: Any) -> bool:
    """``None``, blank strings and empty containers count as absent everywhere in a projection."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, dict | list):
        return not value
    return False
