"""JSON Schema files for non-Python producers, generated from the models.

`python -m schemas.jsonschema` rewrites the committed files; a unit test fails when they are
stale, so the files never drift from the models.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Final

import orjson
from pydantic import BaseModel

from schemas.events import InteractionEvent, SearchEvent

SCHEMA_DIR: Final = Path(__file__).parent / "jsonschema"
FILES: Final[dict[str, type[BaseModel]]] = {
    "interaction_event.v1.schema.json": InteractionEvent,
    "search_event.v1.schema.json": SearchEvent,
}


def render(model: type[BaseModel]) -> bytes:
    schema = model.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"urn:interaction-pipeline:{model.__name__}:v1"
    return orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def write_all(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in FILES.items():
        path = directory / name
        path.write_bytes(render(model))
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_all():
        sys.stdout.write(f"wrote {path}\n")
