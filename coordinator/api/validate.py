"""Request bodies checked against the OpenAPI document itself.

The document (openapi.py) is the only statement of what a body may hold, so
what it promises and what the API enforces cannot drift apart. This checks the
small part of JSON Schema the document uses: type, enum, string length and
pattern, number range, array items and size, uniqueItems, object properties,
required, additionalProperties, propertyNames and maxProperties, $ref.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from coordinator.errors import ValidationError

TYPE_WORDS = {
    "string": "a string",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true or false",
    "array": "a list",
    "object": "an object",
    "null": "null",
}


def check(value: Any, schema: dict[str, Any], components: dict[str, Any]) -> None:
    """Raise ValidationError naming every bad field ("targeting.radius_m": message)."""
    errors: dict[str, str] = {}
    _check(value, schema, components, "body", errors)
    if errors:
        raise ValidationError(errors)


def _check(
    value: Any, schema: dict[str, Any], components: dict[str, Any], at: str, errors: dict[str, str]
) -> None:
    schema = _resolve(schema, components)
    types = schema.get("type")
    if types is not None:
        wanted = [types] if isinstance(types, str) else list(types)
        if not any(_is(value, t) for t in wanted):
            errors[at] = f"Must be {' or '.join(TYPE_WORDS[t] for t in wanted)}."
            return
    if "enum" in schema and value not in schema["enum"]:
        errors[at] = f"Must be one of {', '.join(map(str, schema['enum']))}."
        return
    if isinstance(value, str):
        _check_string(value, schema, at, errors)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        _check_number(value, schema, at, errors)
    elif isinstance(value, list):
        _check_array(value, schema, components, at, errors)
    elif isinstance(value, dict):
        _check_object(value, schema, components, at, errors)


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    return components["schemas"][ref.rsplit("/", 1)[-1]]


def _is(value: Any, kind: str) -> bool:
    if kind == "integer":
        return _is(value, "number") and (isinstance(value, int) or value.is_integer())
    if kind == "number":
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        return numeric and (isinstance(value, int) or math.isfinite(value))
    python = {"string": str, "boolean": bool, "array": list, "object": dict, "null": type(None)}
    return isinstance(value, python[kind])


def _check_string(value: str, schema: dict[str, Any], at: str, errors: dict[str, str]) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        errors[at] = "Must be valid Unicode text (it holds an unpaired surrogate)."
        return
    if len(value) < schema.get("minLength", 0):
        errors[at] = f"Must be at least {schema['minLength']} characters long."
    elif len(value) > schema.get("maxLength", math.inf):
        errors[at] = f"Must be at most {schema['maxLength']} characters long."
    elif "pattern" in schema and not re.search(schema["pattern"], value):
        errors[at] = schema.get("x-pattern-message", f"Must match {schema['pattern']}.")


def _check_number(value: float, schema: dict[str, Any], at: str, errors: dict[str, str]) -> None:
    if value < schema.get("minimum", -math.inf):
        errors[at] = f"Must be at least {schema['minimum']}."
    elif value > schema.get("maximum", math.inf):
        errors[at] = f"Must be at most {schema['maximum']}."


def _check_array(
    value: list, schema: dict[str, Any], components: dict[str, Any], at: str, errors: dict[str, str]
) -> None:
    if len(value) < schema.get("minItems", 0):
        errors[at] = f"Must hold at least {schema['minItems']} item(s)."
        return
    if len(value) > schema.get("maxItems", math.inf):
        errors[at] = f"Must hold at most {schema['maxItems']} items."
        return
    if schema.get("uniqueItems") and len({_key(v) for v in value}) < len(value):
        errors[at] = "Must not repeat an item."
        return
    for index, item in enumerate(value):
        _check(item, schema.get("items", {}), components, f"{at}[{index}]", errors)


def _check_object(
    value: dict, schema: dict[str, Any], components: dict[str, Any], at: str, errors: dict[str, str]
) -> None:
    prefix = "" if at == "body" else f"{at}."
    for name in schema.get("required", []):
        if name not in value:
            errors[prefix + name] = "Required."
    if len(value) > schema.get("maxProperties", math.inf):
        errors[at] = f"Must hold at most {schema['maxProperties']} entries."
        return
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    names = schema.get("propertyNames")
    for name, item in value.items():
        if names is not None:
            _check(name, names, components, f"{prefix}{name}", errors)
            if f"{prefix}{name}" in errors:
                continue
        if name in properties:
            _check(item, properties[name], components, prefix + name, errors)
        elif extra is False:
            errors[prefix + name] = f"Unknown field; known: {', '.join(properties)}."
        elif isinstance(extra, dict):
            _check(item, extra, components, prefix + name, errors)


def _key(value: Any) -> Any:
    """Equal as JSON Schema sees it: 1 and 1.0 are the same item, 1 and true are not."""
    if isinstance(value, bool):
        return ("boolean", value)
    if isinstance(value, int | float):
        return ("number", value)
    if isinstance(value, str):
        return ("string", value)
    return ("json", json.dumps(value, sort_keys=True))
