"""Property-based contract tests: schemathesis drives every operation in /openapi.json, alone and chained.

* Alone: each operation, as every caller the authorization matrix lets use it (an admin, a store's POS
  key, a member for /me), gets small Hypothesis runs of valid requests and of requests that break the
  schema. The API must never answer 5xx, every answer must match its documented schema and content
  type, and a request that breaks the schema must be refused with a 4xx.
* Chained: the schema's OpenAPI links (`loyalty.api.openapi_links`: register a member → the member →
  a sale for them → a return → the statement) and the links schemathesis infers from it drive a state
  machine, once as the tills (POS routes as store A's key) and once as the back office (an admin), so
  calls reach objects that earlier calls made. Half of the members and sales generated there carry a
  valid phone and a time within the back-dating window, or nearly every chain would stop at a 422.

Both run on SQLite and PostgreSQL. Generated auth headers are replaced by the caller's, so an
operation is exercised past authorisation. Example counts are small and derandomised so the module
stays within a minute or two; raise SCHEMATHESIS_EXAMPLES / SCHEMATHESIS_SCENARIOS locally to dig.
"""

from __future__ import annotations

import itertools
import os
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky, FlakyStrategyDefinition, Unsatisfiable
from schemathesis import checks as st_checks
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
)

from tests.api.api_world import World
from tests.api.test_authz_matrix import CASES

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "6"))
SCENARIOS = int(os.environ.get("SCHEMATHESIS_SCENARIOS", "25"))
STEPS = 10
#: the callers the runs use, each standing for its kind: staff, a till, a member
ROLES = ("admin", "pos", "member")
CHECKS = [st_checks.not_a_server_error, response_schema_conformance, content_type_conformance]
_AUTH_HEADERS = {"authorization", "x-api-key"}
_ALLOWED = {(c.method, c.path): c.allowed for c in CASES}


def is_me(path: str) -> bool:
    return path == "/api/v1/me" or path.startswith("/api/v1/me/")


def callers(method: str, path: str) -> list[str]:
    """The matrix's callers of an operation among `ROLES` (only the member for /me)."""
    allowed = _ALLOWED[(method.upper(), path)]
    return ["member"] if is_me(path) else [who for who in ROLES if who in allowed]


def as_caller(case: Any, world: World, who: str) -> dict[str, str]:
    """The caller's credentials for `case`, with any auth header schemathesis generated removed (a
    generated `X-API-Key` beside an admin's bearer token would make every call a 401)."""
    if case.headers:
        case.headers = {k: v for k, v in case.headers.items() if k.lower() not in _AUTH_HEADERS}
    return world.as_(who)


def settings_for(examples: int, **extra: Any) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        **extra,
    )


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_every_operation_as_each_caller(world: World, mode: GenerationMode) -> None:
    """Each operation gets its own small Hypothesis run per caller; all failures are reported together."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", world.app)
    checks = [*CHECKS, negative_data_rejection] if mode is GenerationMode.NEGATIVE else CHECKS
    failures: list[str] = []
    runs = Counter[str]()
    for result in schema.get_all_operations():
        operation = result.ok()
        for who in callers(operation.method, operation.path):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings_for(EXAMPLES)
            def run(case: Any) -> None:
                headers = as_caller(case, world, who)  # noqa: B023 - run() is called right here
                case.call_and_validate(headers=headers, checks=checks)

            try:
                run()
            except Unsatisfiable:  # nothing to break: no parameters or body (GET /health)
                continue
            except Exception as exc:  # collect every operation's failure, then fail once
                failures.append(f"{operation.method.upper()} {operation.path} as {who}: {str(exc)[:800]}")
            runs[who] += 1
    assert runs["admin"] >= 25, runs
    assert runs["pos"] >= 12, runs
    assert runs["member"] >= 8, runs
    assert not failures, "\n\n".join(failures)


def realistic_bodies(world: World) -> Any:
    """A `flatmap_body` hook: half of the members, sales and returns a chain makes are ones the API takes.

    Generated text is mostly refused (control characters, phones no numbering plan has, times decades
    away), so without this a chain would rarely get past its first call. A link fills in its ids
    afterwards (a sale for the member just registered, at their store); a sale no link feeds is an
    anonymous one at store A, which the tills' key may post. Phones, order ids and codes come from a
    counter, not from Hypothesis: a replayed step then creates its object again instead of meeting the
    one its first run made (409), which Hypothesis would take for a flaky strategy.
    """
    serial = itertools.count(1)
    fresh = st.builds(lambda: next(serial))

    def hook(context: Any, body: Any) -> Any:
        operation = context.operation
        if operation is None or not isinstance(body, dict) or operation.method.upper() != "POST":
            return st.just(body)
        now = datetime.now(UTC)
        path = operation.path
        if path == "/api/v1/members":
            fixed = fresh.map(lambda n: {"phone": f"+86139{n:08d}", "name": f"Member {n}"})
        elif path == "/api/v1/purchases":
            fixed = st.tuples(
                fresh, st.integers(0, 7 * 24 * 60), st.integers(1, 5), st.integers(1, 99_999)
            ).map(
                lambda t: {
                    "store_id": world.store_a,
                    "order_id": f"chain-{t[0]}",
                    "occurred_at": (now - timedelta(minutes=t[1])).isoformat(),
                    "lines": [{"sku": "SKU-1", "quantity": t[2], "unit_price": f"{t[3] / 100:.2f}"}],
                }
            )
        elif path == "/api/v1/returns":
            fixed = fresh.map(
                lambda n: {
                    "store_id": world.store_a,
                    "order_id": body.get("order_id", "x"),
                    "return_id": f"chain-return-{n}",
                    "occurred_at": now.isoformat(),
                }
            )
        elif path in {"/api/v1/merchants", "/api/v1/stores"}:
            fixed = fresh.map(lambda n: {**body, "code": f"C{n}", "name": f"Chain {n}"})
        elif path == "/api/v1/staff":
            fixed = fresh.map(lambda n: {**body, "username": f"chain{n}", "display_name": None})
        else:
            return st.just(body)
        return st.one_of(st.just(body), fixed)

    return hook


@pytest.mark.parametrize(
    ("flow", "inferred"),
    [("tills", False), ("back office", True)],
    ids=["tills along the published links", "back office along published and inferred links"],
)
def test_linked_operations_statefully(world: World, flow: str, inferred: bool) -> None:
    """Chains of calls along the schema's links: no 5xx, every answer as documented.

    The tills follow the published links only, so their chains are the documented ones (register,
    sale, return, statement) and go deep; the back office also follows the links schemathesis infers
    from the schema (any answer carrying a member id leads to the member's routes), wider and shallower.
    """
    schema = schemathesis.openapi.from_asgi("/openapi.json", world.app)
    schema.hook("flatmap_body")(realistic_bodies(world))
    if not inferred:
        schema.config.phases.stateful.inference.algorithms = []
    schema.config.phases.stateful.generation.modes = [GenerationMode.POSITIVE]  # negative: stateless runs
    links = sum(
        len(response.get("links", {}))
        for ops in world.app.openapi()["paths"].values()
        for op in ops.values()
        for response in op["responses"].values()
    )
    assert links >= 30, "the published schema lost its links"
    statuses = Counter[tuple[str, int]]()
    failures: list[str] = []
    scenarios = Counter[str]()

    class Chains(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            scenarios["started"] += 1

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            roles = callers(case.operation.method, case.operation.path)
            who = roles[0] if flow == "back office" or "pos" not in roles else "pos"
            return {"headers": as_caller(case, world, who)}

        def validate_response(
            self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            label = f"{case.operation.method.upper()} {case.operation.path}"
            statuses[(label, response.status_code)] += 1
            try:
                case.validate_response(
                    response, checks=CHECKS, transport_kwargs=kwargs or None, recorder=self.recorder
                )
            except Exception as exc:  # kept here: Hypothesis' replay of it may meet other data
                failures.append(f"{label}: {str(exc)[:1500]}")
                raise

    # The API's data outlives a scenario, so a replayed scenario can meet other answers (an object its
    # first run made) and Hypothesis stops as flaky; the run then goes on from where it stands.
    for _ in range(4):
        try:
            Chains.run(settings=settings_for(SCENARIOS, stateful_step_count=STEPS, phases=[Phase.generate]))
        except (Flaky, FlakyStrategyDefinition):
            pass
        except Exception:
            if not failures:
                raise
        if failures or scenarios["started"] >= SCENARIOS:
            break
    assert not failures, "\n\n".join(failures)
    # The chains got somewhere: objects were made, and ids taken from answers reached other calls.
    made = sum(n for (op, status), n in statuses.items() if op.startswith("POST") and status == 201)
    followed = sum(n for (op, status), n in statuses.items() if "{" in op and 200 <= status < 300)
    assert made, sorted(statuses.items())
    assert followed, sorted(statuses.items())
