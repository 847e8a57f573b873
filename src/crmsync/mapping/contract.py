"""The mapping contract as data: a pydantic model (``extra="forbid"``) loaded from YAML.

A contract has two stages over the same building blocks:

* ``inbound`` maps a *source record* (e.g. a commercetools Customer) to the *canonical record*
  (:class:`~crmsync.model.Person`); its keys follow the canonical model's fields.
* ``outbound`` maps the canonical record to the *target payload* (e.g. Klaviyo profile attributes);
  its keys are the target's attribute names.

Both are trees. A leaf is a **rule** — ``{from: <path or [paths]>, transforms: [...], map: <template>}``
or ``{value: <constant>}``, or just ``<path>`` as shorthand — and any other mapping is a nested
**group** (``location: {address1: ..., city: ...}``). A mapping counts as a rule when its ``from``,
``value``, ``transforms`` or ``map`` key holds a non-mapping value; so a target attribute literally
named ``from`` is written ``{from: {from: path}}``.

``selectors`` pick one element of a source list by ordered rules (seed 004's billing-address
priority); ``templates`` are reusable groups applied with ``map:`` to an object or to each element
of a list. ``validate`` holds record-level rules on the payload; ``identifiers`` names the payload
fields the target matches profiles on.

The model's JSON Schema ships as ``contract.schema.json`` (see :mod:`crmsync.mapping.schema`).
Semantic checks that need the canonical model (field names, template targets) live in
:mod:`crmsync.mapping.checks` and run as part of validation, so ``Contract.model_validate`` never
accepts a contract the projector cannot compile.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    GetJsonSchemaHandler,
    JsonValue,
    PlainValidator,
    StringConstraints,
    Tag,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema
from typing_extensions import TypeAliasType

from crmsync.mapping.paths import parse_path
from crmsync.mapping.transforms import DEFAULT_REGISTRY, TransformRegistry
from crmsync.model import Company, Person

CANONICAL_MODELS: dict[str, type[Person] | type[Company]] = {"person": Person, "company": Company}
RULE_KEYS = ("from", "value", "transforms", "map")
_BUILTIN_TRANSFORMS = DEFAULT_REGISTRY.names()  # snapshot: the shipped schema must not depend on plugins

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]*$")]
FieldKey = Annotated[str, StringConstraints(pattern=r"^[^.\[\]]+$")]


def _check_path(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("a path must be a string such as `addresses[0].city`")
    parse_path(value)
    return value


PATH_SCHEMA: dict[str, Any] = {
    "type": "string",
    "pattern": r"^[^.\[\]]+(\[\d+\])*(\.[^.\[\]]+(\[\d+\])*)*$",
    "description": "dot path with optional list indices, e.g. addresses[0].city",
}

PathText = Annotated[str, PlainValidator(_check_path), WithJsonSchema(PATH_SCHEMA)]


def _check_from(value: Any) -> str | list[str]:
    if isinstance(value, str):
        return _check_path(value)
    if isinstance(value, list) and value:
        return [_check_path(item) for item in value]
    raise ValueError("`from` must be a path or a non-empty list of paths")


FromSpec = Annotated[
    str | list[str],
    PlainValidator(_check_from),
    WithJsonSchema(
        {
            "anyOf": [
                PATH_SCHEMA,
                {"type": "array", "items": PATH_SCHEMA, "minItems": 1},
            ],
            "description": "a path into the scope, or several (first non-empty, or combined by `join`)",
        }
    ),
]


def _check_transform(value: Any, info: ValidationInfo) -> str | dict[str, Any]:
    registry = (info.context or {}).get("registry") or DEFAULT_REGISTRY
    if not isinstance(registry, TransformRegistry):
        raise TypeError("validation context 'registry' must be a TransformRegistry")
    registry.resolve(value)  # raises ValueError("unknown transform ...") / bad arguments
    return value if isinstance(value, str) else dict(value)


TransformRef = Annotated[
    str | dict[str, Any],
    PlainValidator(_check_transform),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "enum": _BUILTIN_TRANSFORMS},
                {
                    "type": "object",
                    "minProperties": 1,
                    "maxProperties": 1,
                    "propertyNames": {"enum": _BUILTIN_TRANSFORMS},
                },
            ],
            "description": "a transform name, or {name: arguments}; plugins may register more names",
        }
    ),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SystemRef(_Strict):
    """One side of a contract: the system and its entity (``commercetools`` / ``customer``)."""

    system: Slug
    entity: Slug


class SourceRef(SystemRef):
    id_path: PathText = Field(default="id", description="path to the source record's stable id")


class FieldRule(_Strict):
    """A leaf: where a value comes from and how it is transformed."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"anyOf": [{"required": ["from"]}, {"required": ["value"]}]},
    )

    from_: FromSpec | None = Field(default=None, alias="from")
    value: JsonValue = Field(default=None, description="a constant instead of `from`")
    transforms: list[TransformRef] = Field(default_factory=list)
    map: Name | None = Field(default=None, description="template applied to the object or each element")
    description: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> FieldRule:
        has_value = "value" in self.model_fields_set
        if self.from_ is None and not has_value:
            raise ValueError("a rule needs `from` (a path or a list of paths) or `value` (a constant)")
        if self.from_ is not None and has_value:
            raise ValueError("a rule takes either `from` or `value`, not both")
        if self.map is not None and not isinstance(self.from_, str):
            raise ValueError("`map` needs a single `from` path")
        return self

    @property
    def paths(self) -> list[str]:
        if self.from_ is None:
            return []
        return [self.from_] if isinstance(self.from_, str) else list(self.from_)


def _is_rule(value: dict[str, Any]) -> bool:
    return any(key in value and not isinstance(value[key], dict) for key in RULE_KEYS)


def _node_tag(value: Any) -> str | None:
    if isinstance(value, str):
        return "<path>"
    if isinstance(value, FieldRule):
        return "<rule>"
    if isinstance(value, dict):
        return "<rule>" if _is_rule(value) else "<group>"
    return None


class _GroupJsonSchema:
    """Make the group branch exclude rules in the schema, so ``oneOf`` matches exactly one branch."""

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema["description"] = "a nested object of fields"
        schema["not"] = {
            "anyOf": [
                {"required": [key], "properties": {key: {"not": {"type": "object"}}}} for key in RULE_KEYS
            ]
        }
        return schema


if TYPE_CHECKING:  # mypy cannot follow the recursive alias; at run time pydantic needs the real one
    MappingNode = FieldRule | dict[str, Any]
else:
    MappingNode = TypeAliasType(
        "MappingNode",
        Annotated[
            Union[  # noqa: UP007 - TypeAliasType needs a runtime Union with string forward references
                Annotated[
                    FieldRule,
                    BeforeValidator(lambda v: {"from": v} if isinstance(v, str) else v),
                    WithJsonSchema({**PATH_SCHEMA, "description": "shorthand for {from: <path>}"}),
                    Tag("<path>"),
                ],
                Annotated[FieldRule, Tag("<rule>")],
                Annotated[dict[FieldKey, "MappingNode"], _GroupJsonSchema(), Tag("<group>")],
            ],
            Discriminator(
                _node_tag,
                custom_error_type="mapping_node",
                custom_error_message=(
                    "expected a path, a rule {from|value, transforms, map} or a mapping of fields"
                ),
            ),
        ],
    )

Group = dict[FieldKey, MappingNode]


class MatchRule(_Strict):
    """Pick the element whose ``field`` equals a constant or the value at a path of the record."""

    field: PathText
    equals_path: PathText | None = None
    equals: str | int | bool | None = None

    @model_validator(mode="after")
    def _one_operand(self) -> MatchRule:
        if (self.equals_path is None) == ("equals" not in self.model_fields_set):
            raise ValueError("`match` needs exactly one of `equals_path` and `equals`")
        return self


class PickRule(_Strict):
    match: MatchRule | None = None
    first: Literal[True] | None = Field(default=None, description="the first element (that is an object)")

    @model_validator(mode="after")
    def _one_kind(self) -> PickRule:
        if (self.match is None) == (self.first is None):
            raise ValueError("a pick rule is either `match: {...}` or `first: true`")
        return self


class Selector(_Strict):
    """Choose one object from a list in the source; the first pick rule that yields one wins."""

    from_: PathText = Field(alias="from")
    pick: list[PickRule] = Field(min_length=1)
    description: str | None = None


FormatName = Literal["email", "e164", "country_alpha2", "country_alpha3", "locale"]


def _check_regex(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("a pattern must be a string")
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    return value


Pattern = Annotated[str, PlainValidator(_check_regex), WithJsonSchema({"type": "string", "format": "regex"})]


class Validation(_Strict):
    """Record-level rules on the payload; a violation is ``RecordValidationError(field=path)``."""

    required: list[PathText] = Field(default_factory=list)
    at_least_one: list[Annotated[list[PathText], Field(min_length=2)]] = Field(
        default_factory=list, description="groups of payload paths of which at least one must be present"
    )
    formats: dict[PathText, FormatName] = Field(default_factory=dict)
    patterns: dict[PathText, Pattern] = Field(default_factory=dict)


class Contract(_Strict):
    """A versioned mapping from one source entity to one target entity through a canonical record."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        title="crmsync mapping contract",
        json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema"},
    )

    name: Slug
    version: int = Field(ge=1)
    description: str | None = None
    source: SourceRef
    target: SystemRef
    canonical: Literal["person", "company"] = "person"
    selectors: dict[Name, Selector] = Field(default_factory=dict)
    templates: dict[Name, Group] = Field(default_factory=dict)
    inbound: Group
    outbound: Group
    identifiers: dict[Name, PathText] = Field(
        default_factory=dict, description="identifier name → payload path (e.g. external_id: external_id)"
    )
    validation: Validation = Field(default_factory=Validation, alias="validate")

    @model_validator(mode="after")
    def _semantics(self) -> Contract:
        from crmsync.mapping.checks import contract_problems

        problems = contract_problems(self)
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def canonical_model(self) -> type[Person] | type[Company]:
        return CANONICAL_MODELS[self.canonical]
