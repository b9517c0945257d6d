"""Arguments of an MCP tool as a pydantic model whose schema is the server's own: the kernel checks a call
against it (errors name the field) before anything reaches the server, and the model is shown it as is."""

from __future__ import annotations

import copy
from typing import Any, ClassVar, Self

from jsonschema import ValidationError as SchemaViolation
from jsonschema.exceptions import SchemaError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from pydantic import RootModel, ValidationError
from pydantic.config import ExtraValues
from pydantic_core import InitErrorDetails, PydanticCustomError
from referencing import Registry

MAX_REPORTED = 5


class ToolArguments(RootModel[dict[str, Any]]):
    """The arguments object of one MCP tool, valid under the tool's `inputSchema`."""

    input_schema: ClassVar[dict[str, Any]] = {"type": "object"}
    validator: ClassVar[Validator]

    @classmethod
    def model_validate(
        cls,
        obj: Any,
        *,
        strict: bool | None = None,
        extra: ExtraValues | None = None,
        from_attributes: bool | None = None,
        context: Any | None = None,
        by_alias: bool | None = None,
        by_name: bool | None = None,
    ) -> Self:
        """Checked by jsonschema first: the server's schema, not a translation of it, decides."""
        problems = sorted(cls.validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
        if problems:
            raise ValidationError.from_exception_data(
                cls.__name__, [_detail(p) for p in problems[:MAX_REPORTED]]
            )
        return super().model_validate(
            obj,
            strict=strict,
            extra=extra,
            from_attributes=from_attributes,
            context=context,
            by_alias=by_alias,
            by_name=by_name,
        )

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The server's schema (pydantic's own would say only `object`)."""
        return copy.deepcopy(cls.input_schema)


def arguments_model(name: str, schema: dict[str, Any]) -> type[ToolArguments]:
    """A model for one tool's arguments; a ValueError if the server's schema is not a valid JSON schema."""
    schema = {"type": "object", **schema}
    cls = validator_for(schema)
    try:
        cls.check_schema(schema)
    except SchemaError as e:
        raise ValueError(f"its input schema is invalid: {e.message}") from e
    # an empty registry: a `$ref` resolves inside the schema, never by fetching a URL the server names
    validator = cls(schema, registry=Registry())
    return type(name, (ToolArguments,), {"input_schema": schema, "validator": validator})


def _detail(problem: SchemaViolation) -> InitErrorDetails:
    """One jsonschema error located at the field it concerns (a missing one included)."""
    where = tuple(problem.absolute_path)
    if problem.validator == "required" and isinstance(problem.instance, dict):
        missing = [k for k in problem.validator_value if k not in problem.instance]
        where = (*where, missing[0]) if missing else where
    return InitErrorDetails(
        type=PydanticCustomError("json_schema", "{message}", {"message": problem.message}),
        loc=where,
        input=problem.instance,
    )
