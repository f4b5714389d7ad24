"""Validation errors as short sentences that name the field and the rule."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

_MAX_INPUT_REPR = 60


def _field_path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "event"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_INPUT_REPR else text[: _MAX_INPUT_REPR - 3] + "..."


def _rule(error: Any) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known field"
    if kind == "greater_than_equal":
        return f"must be >= {ctx.get('ge')}, got {_short(error.get('input'))}"
    if kind == "less_than_equal":
        return f"must be <= {ctx.get('le')}, got {_short(error.get('input'))}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    if kind == "too_short":
        return f"must have at least {ctx.get('min_length')} item(s)"
    if kind == "too_long":
        return f"must have at most {ctx.get('max_length')} item(s)"
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        if pattern.startswith("^[a-z]"):
            return (
                f"must be a lower-case identifier (letter, then letters, digits or _), "
                f"got {_short(error.get('input'))}"
            )
        return f"must not contain control characters, got {_short(error.get('input'))}"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    return f"{error['msg'][0].lower()}{error['msg'][1:]}, got {_short(error.get('input'))}"


def describe(exc: ValidationError) -> list[str]:
    """One `field: rule` line per problem, e.g. `position: must be >= 0, got -1`."""
    lines = []
    for error in exc.errors():
        rule = _rule(error)
        path = _field_path(tuple(error["loc"]))
        # Model-level rules already start with the field name.
        lines.append(rule if path == "event" and ":" in rule else f"{path}: {rule}")
    return lines
