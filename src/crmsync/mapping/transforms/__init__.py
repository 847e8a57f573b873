"""Named transforms for mapping contracts; importing this package registers the built-ins.

Built-ins: ``trim``, ``lower``, ``upper``, ``join``, ``first_non_empty``, ``default``, ``to_string``,
``bool``, ``pluck``, ``locale_language``, ``money_from_cents`` (see :mod:`.text`) and
``normalize_email``, ``e164``, ``iso_country`` (see :mod:`.identity`). Register more with
:func:`register_transform` (default registry) or on a :meth:`TransformRegistry.copy`.
"""

from crmsync.mapping.transforms import identity as _identity
from crmsync.mapping.transforms import text as _text
from crmsync.mapping.transforms.identity import (
    country_code,
    lookup_country,
    normalize_email_address,
    to_e164,
)
from crmsync.mapping.transforms.registry import (
    DEFAULT_REGISTRY,
    InvalidValue,
    OnInvalid,
    TransformArgs,
    TransformDef,
    TransformFn,
    TransformRegistry,
    ValidatingArgs,
    is_empty,
    register_transform,
)

BUILTIN_MODULES = (_identity, _text)

__all__ = [
    "BUILTIN_MODULES",
    "DEFAULT_REGISTRY",
    "InvalidValue",
    "OnInvalid",
    "TransformArgs",
    "TransformDef",
    "TransformFn",
    "TransformRegistry",
    "ValidatingArgs",
    "country_code",
    "is_empty",
    "lookup_country",
    "normalize_email_address",
    "register_transform",
    "to_e164",
]
