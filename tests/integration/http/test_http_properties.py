"""Property-based tests of the request schema: no input makes the service answer 500.

schemathesis generates requests from the service's own OpenAPI document, both inputs the
schema allows (which must be accepted or refused with a documented 4xx) and inputs it forbids
(which must never crash the service; a batch mixing valid and invalid events is partly
accepted by design, so "invalid input is always refused" is not a property here). Examples
per operation are bounded so the test stays well under a minute; Hypothesis shrinks any
failure to a minimal request.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from interaction_pipeline.http import serve_in_thread
from interaction_pipeline.http.service import build_app
from schemas import Settings

pytestmark = pytest.mark.integration

EXAMPLES_PER_OPERATION = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def live_schema(unique_settings: Settings) -> Iterator[tuple[str, schemathesis.BaseSchema]]:
    with serve_in_thread(build_app(unique_settings)) as url:
        yield url, schemathesis.openapi.from_url(f"{url}/openapi.json")


def _exercise(operation: Any, mode: GenerationMode, url: str) -> set[int]:
    """Run the generated requests of one operation; returns the status codes seen."""
    seen: set[int] = set()

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: schemathesis.Case) -> None:
        seen.add(case.call_and_validate(base_url=url, checks=CHECKS).status_code)

    check()
    return seen


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_generated_request_gets_a_server_error(
    live_schema: tuple[str, schemathesis.BaseSchema], mode: GenerationMode
) -> None:
    url, schema = live_schema
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    if mode is GenerationMode.NEGATIVE:  # only operations with an input can get a bad one
        operations = [op for op in operations if list(op.iter_parameters()) or op.body]
    statuses: dict[str, set[int]] = {}
    for operation in operations:
        statuses[operation.label] = _exercise(operation, mode, url)
    if mode is GenerationMode.POSITIVE:
        # Valid-by-schema input must really get through, not just be refused politely.
        assert statuses["POST /v1/retrievers/interactions"] & {200, 207}, statuses
        assert statuses["POST /v1/retrievers/searches"] & {200, 207}, statuses
