"""A small, strict schema language: validates JSON values and describes itself as JSON Schema.

One definition serves both the request validation and the OpenAPI document, so the two cannot
drift. It is deliberately tiny (no pydantic: its import alone costs more than the rest of a cold
start, measured in docs/architecture.md). Validation is strict: `true` is not an integer, `1.0` is not an integer,
unknown fields are refused, and every error names its field path (`items[0].quantity`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from chalicelib.errors import InvalidInput

FieldErrors = list[dict[str, str]]


class Field:
    """Base of every schema node. `description` goes into the OpenAPI document."""

    json_type = ""

    def __init__(self, description: str = "", nullable: bool = False) -> None:
        self.description = description
        self.nullable = nullable

    def check(self, value: Any, path: str, errors: FieldErrors) -> Any:
        if value is None and self.nullable:
            return None
        return self._check(value, path, errors)

    def _check(self, value: Any, path: str, errors: FieldErrors) -> Any:
        raise NotImplementedError

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": [self.json_type, "null"] if self.nullable else self.json_type}
        if self.description:
            schema["description"] = self.description
        schema.update(self._constraints())
        return schema

    def _constraints(self) -> dict[str, Any]:
        return {}


def _fail(errors: FieldErrors, path: str, message: str) -> None:
    errors.append({"field": path or "(body)", "message": message})


class Str(Field):
    json_type = "string"

    def __init__(self, min_len: int = 0, max_len: int = 1000, pattern: str | None = None,
                 enum: Sequence[str] | None = None, strip: bool = True, fmt: str | None = None,
                 **kw: Any) -> None:
        super().__init__(**kw)
        self.min_len, self.max_len, self.pattern, self.enum = min_len, max_len, pattern, enum
        self.strip, self.fmt = strip, fmt
        self._regex = re.compile(pattern) if pattern else None

    def _check(self, value: Any, path: str, errors: FieldErrors) -> Any:
        if not isinstance(value, str):
            return _fail(errors, path, "must be a string")
        if self.strip:
            value = value.strip()
        if len(value) < self.min_len:
            return _fail(errors, path, "is required" if not value else f"must be at least {self.min_len} characters")
        if len(value) > self.max_len:
            return _fail(errors, path, f"must be at most {self.max_len} characters")
        if self.enum is not None and value not in self.enum:
            return _fail(errors, path, f"must be one of {', '.join(self.enum)}")
        if self._regex and not self._regex.fullmatch(value):
            return _fail(errors, path, f"must match {self.pattern}")
        return value

    def _constraints(self) -> dict[str, Any]:
        out: dict[str, Any] = {"minLength": self.min_len, "maxLength": self.max_len}
        if self.pattern:
            out["pattern"] = self.pattern
        if self.enum is not None:
            out["enum"] = list(self.enum)
        if self.fmt:
            out["format"] = self.fmt
        return out


class Int(Field):
    """An integer: booleans and floats (even `1.0`) are refused, so money never becomes a float."""

    json_type = "integer"

    def __init__(self, minimum: int | None = None, maximum: int | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.minimum, self.maximum = minimum, maximum

    def _check(self, value: Any, path: str, errors: FieldErrors) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            return _fail(errors, path, "must be an integer")
        if self.minimum is not None and value < self.minimum:
            return _fail(errors, path, f"must be >= {self.minimum}")
        if self.maximum is not None and value > self.maximum:
            return _fail(errors, path, f"must be <= {self.maximum}")
        return value

    def _constraints(self) -> dict[str, Any]:
        out = {}
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        return out


class Bool(Field):
    json_type = "boolean"

    def _check(self, value: Any, path: str, errors: FieldErrors) -> Any:
        if not isinstance(value, bool):
            return _fail(errors, path, "must be true or false")
        return value


class Arr(Field):
    json_type = "array"

    def __init__(self, items: Field, min_items: int = 0, max_items: int = 100, **kw: Any) -> None:
        super().__init__(**kw)
        self.items, self.min_items, self.max_items = items, min_items, max_items

    def _check(self, value: Any, path: str, errors: FieldErrors) -> Any:
        if not isinstance(value, list):
            return _fail(errors, path, "must be an array")
        if len(value) < self.min_items:
            return _fail(errors, path, f"must have at least {self.min_items} item(s)")
        if len(value) > self.max_items:
            return _fail(errors, path, f"must have at most {self.max_items} items")
        return [self.items.check(item, f"{path}[{i}]", errors) for i, item in enumerate(value)]

    def _constraints(self) -> dict[str, Any]:
        return {"items": self.items.json_schema(), "minItems": self.min_items, "maxItems": self.max_items}


class Obj(Field):
    """An object with known fields. Unknown fields are an error; absent optional ones are left out."""

    json_type = "object"

    def __init__(self, fields: Mapping[str, Field], required: Sequence[str] = (), name: str = "",
                 **kw: Any) -> None:
        super().__init__(**kw)
        self.fields, self.required, self.name = dict(fields), tuple(required), name

    def _check(self, value: Any, path: str, errors: FieldErrors) -> Any:
        if not isinstance(value, dict):
            return _fail(errors, path, "must be an object")
        prefix = f"{path}." if path else ""
        for key in value:
            if key not in self.fields:
                _fail(errors, prefix + str(key), "is not a known field")
        for key in self.required:
            if key not in value:
                _fail(errors, prefix + key, "is required")
        return {key: field.check(value[key], prefix + key, errors)
                for key, field in self.fields.items() if key in value}

    def _constraints(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "properties": {key: field.json_schema() for key, field in self.fields.items()},
            "additionalProperties": False,
        }
        if self.required:
            out["required"] = list(self.required)
        return out

    def validate(self, value: Any) -> dict[str, Any]:
        """The cleaned value, or InvalidInput listing every problem with its field path."""
        errors: FieldErrors = []
        cleaned: dict[str, Any] = self.check(value, "", errors)
        if errors:
            first = errors[0]
            raise InvalidInput(f"Invalid request: {first['field']} {first['message']}", errors=errors)
        return cleaned


class Any_(Field):
    """Free-form JSON (used only in responses, e.g. an event's `data`)."""

    def json_schema(self) -> dict[str, Any]:
        return {"description": self.description} if self.description else {}

    def _check(self, value: Any, path: str, errors: FieldErrors) -> Any:
        return value
