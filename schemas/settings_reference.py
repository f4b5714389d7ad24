"""The configuration reference (docs/configuration.md), generated from the settings model.

One source of truth: the sections, variable names, defaults and descriptions come from
`schemas.settings`; `interactions schema` rewrites the file and `interactions schema --check`
(run by `make test`) fails when it is stale.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from schemas.settings import SECTIONS, Section, env_names

REFERENCE_NAME = "configuration.md"

_HEADER = """\
# Configuration reference

<!-- Generated from schemas/settings.py by `interactions schema`; do not edit by hand. -->

Every setting is read from the environment (names are case-insensitive) when a command
starts; `Settings()` in Python reads the same. In code, change some with
`settings.replace(kafka={"bootstrap_servers": "..."})`. Lists and maps are JSON
(`HTTP_API_KEYS='["k1","k2"]'`, `TYPE_WEIGHTS='{"share": 2.0}'`). Where a variable has a
second name, the first is preferred and the second is still read.
"""


def _default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        value: Any = info.default_factory()  # type: ignore[call-arg]
    elif info.default is PydanticUndefined or info.default is None:
        return "unset"
    else:
        value = info.default
    if isinstance(value, Path):
        return f"`{value}`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f"`{value}`"
    return f"`{json.dumps(value)}`"


def _section_table(attribute: str, section: type[Section]) -> list[str]:
    lines = [
        f"## {section.title} (`settings.{attribute}`)",
        "",
    ]
    if section.__doc__:
        lines += [" ".join(section.__doc__.split()), ""]
    lines += ["| variable | default | meaning |", "| --- | --- | --- |"]
    for field, info in section.model_fields.items():
        names = env_names(section, field)
        shown = " / ".join(f"`{n}`" for n in names)
        description = (info.description or "").replace("|", "\\|")
        lines.append(f"| {shown} | {_default(info)} | {description} |")
    return [*lines, ""]


def render_reference() -> str:
    """The whole reference as Markdown."""
    lines = [_HEADER]
    for attribute, section in SECTIONS.items():
        lines += _section_table(attribute, section)
    return "\n".join(lines).rstrip() + "\n"
