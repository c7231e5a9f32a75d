"""Property-based contract test: schemathesis drives every operation in /openapi.json.

It generates valid and invalid requests from the published schema and checks that the API never
answers 5xx and that every response matches its documented schema and content type. Calls are made
as an admin (most operations) and as a member (/me), so authorised paths are exercised, not just 401s.
Example counts are kept small so this runs in seconds; raise SCHEMATHESIS_EXAMPLES locally to dig.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks as st_checks
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from tests.api.api_world import World, build_world

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "6"))


@pytest.fixture(scope="module")
def st_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    path: Path = tmp_path_factory.mktemp("st") / "loyalty.db"
    w = build_world(f"sqlite:///{path}")
    yield w
    w.client.close()
    w.ctx.engine.dispose()


def test_api_conforms_to_its_schema(st_world: World) -> None:
    """Each operation gets its own small Hypothesis run; all failures are reported together."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", st_world.app)
    checks = [st_checks.not_a_server_error, response_schema_conformance, content_type_conformance]
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        headers = st_world.as_("member" if operation.path.startswith("/api/v1/me") else "admin")

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
        )
        def run(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=checks)  # noqa: B023 - run() is called right here

        try:
            run()
        except Exception as exc:  # collect every operation's failure, then fail once
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:600]}")
    assert operations >= 30
    assert not failures, "\n\n".join(failures)
