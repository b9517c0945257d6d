"""JSON-schema checks for the offline test kit: a tool's arguments and a structured answer, as a kernel
would hold them to the schema it was given."""

from __future__ import annotations

from typing import Any

from jsonschema.exceptions import SchemaError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from referencing import Registry

MAX_REPORTED = 5


def schema_validator(schema: dict[str, Any], *, what: str) -> Validator:
    """A validator for `schema`; a ValueError naming `what` if the schema itself is invalid."""
    cls = validator_for(schema)
    try:
        cls.check_schema(schema)
    except SchemaError as e:
        raise ValueError(f"the schema of {what} is not a valid JSON schema: {e.message}") from e
    # an empty registry: a `$ref` resolves inside the schema, never by fetching a URL
    return cls(schema, registry=Registry())


def schema_problems(validator: Validator, instance: Any) -> str:
    """What makes `instance` break the schema, as `field: problem; ...` (empty when it is valid)."""
    found = sorted(validator.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path])
    parts = []
    for problem in found[:MAX_REPORTED]:
        where = ".".join(str(p) for p in problem.absolute_path) or "(root)"
        parts.append(f"{where}: {problem.message}")
    return "; ".join(parts)
