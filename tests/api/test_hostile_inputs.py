"""Hostile input against every write the app serves: a 4xx naming the field, and nothing written.

The writes are read from the app's routes (`tests.api.routes`), so a new POST, PUT, PATCH or DELETE is
covered without touching this file: a valid request for it comes from the authorization matrix (which
must list every route), and the hostile values are derived from its published request schema, field by
field, nested fields included (`lines.0.unit_price`). Each route gets:

* whole-body attacks: a valid body padded with whitespace past 10 MB (413), malformed JSON, bytes that
  are not UTF-8, a JSON value that is not an object, JSON nested 100,000 deep, an unknown field
  (`is_admin`);
* per field, by its type: the wrong JSON type; for text NUL, an escape sequence, 100,000 characters;
  for integers 2**70, -2**70, 1e400 (a JSON number no float holds), a fraction, one past each bound and
  a negative value unless the schema allows one; for amounts a negative one, 1e400, NaN, a fraction
  of the minor unit and a JSON float; for currencies one that is not the programme's; for dates and
  times year 1, year 9999, the far future, a year ahead and an impossible or naive value; for lists
  one item past the limit;
* an over-long `Idempotency-Key` where the route takes one; a 10 MB body where it takes none;
* ids in the path, reads included (`test_hostile_path_ids_…`): 2**70, 1e400, 0, -1, text;
* a sale whose lines add up past what the ledger's 64-bit columns hold.

A login form carries text only, so it gets the text attacks and JSON in place of the form. Every
answer must be a 4xx problem+json whose `errors[].field` names the field (the whole body as `body`;
413 names none), and every table must hold exactly the rows it held before (row counts and contents,
so a partial update is caught too). The unmutated request is sent first and must succeed, so a
refusal is the hostile value's doing. Runs on SQLite and PostgreSQL (`world`).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import Engine, inspect

from tests.api.api_world import World, purchase_body
from tests.api.routes import write_routes
from tests.api.test_authz_matrix import CASES, TARGET_MONTH, Case

OVERSIZED = 10 * 1024 * 1024 + 1  # the issue's "valid sale padded to 10 MB", one byte more
DEEP = 100_000
LONG_TEXT = 100_000
ANY_FIELD = "*"  # a 4xx problem is enough: the value is not one field's (a body over the size limit)
DROP = object()  # in a variant: remove the key from the matrix's body


@dataclass(frozen=True)
class Raw:
    """JSON text sent as it is, for values `json.dumps` cannot write (1e400, deep nesting)."""

    text: str


@dataclass(frozen=True)
class Attack:
    """One hostile request made from a valid one, and the field its problem must name.

    `body` turns the valid body into the hostile one (a JSON value with `Raw` parts), `content` into
    the bytes sent as they are; with neither the valid body goes out (with the attack's headers).
    """

    label: str
    field: str | None
    body: Callable[[Any], Any] | None = None
    content: Callable[[Any], bytes] | None = None
    headers: dict[str, str] | None = None
    expect_status: int | None = None


# --- the valid request each write starts from --------------------------------------------------------


def _claim_total(_w: World) -> str:
    lines = purchase_body(1, None, "x")["lines"]
    total = sum(Decimal(x["unit_price"]) * x["quantity"] - Decimal(x.get("discount", "0")) for x in lines)
    return f"{total:.2f}"


#: Bodies beside the matrix's, so optional fields and the alternatives of "exactly one of" are reached.
#: Values may be callables of the world; `DROP` removes a key. A field no body reaches fails the test.
_COUPONS: dict[int, str] = {}


def _coupon(w: World) -> str:
    """A shared code of the world's that any sale may bring (1 % off, a million uses)."""
    if id(w) not in _COUPONS:
        from loyalty.bootstrap import FrozenClock
        from loyalty.services.offers.book import define_offer
        from loyalty.services.offers.coupons import issue_coupons

        clock = w.ctx.clock  # issued long ago, so the sales of the matrix, dated back, may use it
        w.ctx.clock = FrozenClock(w.ctx.now() - timedelta(days=730))
        try:
            define_offer(w.ctx, {"code": "hostile-1pct", "name": "1 %", "kind": "percent_off", "percent": 1})
            _COUPONS[id(w)] = issue_coupons(w.ctx, "hostile-1pct", count=1, max_uses=10**6).codes[0]
        finally:
            w.ctx.clock = clock
    return _COUPONS[id(w)]


def _current_plan(w: World) -> int:
    """The id of the sales plan in force for the matrix's month (a change must name the one it saw)."""
    from loyalty.services import targets

    return targets.current_plan(w.ctx, TARGET_MONTH, "sales").id


VARIANTS: dict[tuple[str, str], list[dict[str, Any]]] = {
    ("POST", "/api/v1/members"): [
        {"birthday": "1990-05-01", "email": "a@example.com", "gender": "female", "tags": ["vip"]}
        | {"marketing_consent": True}
    ],
    # The phone is set to the one it has: member A keeps it for the other tests of the module.
    ("PATCH", "/api/v1/members/{member_id}"): [
        {"name": "Alice B", "email": "b@example.com", "birthday": "1991-02-03", "gender": "other"}
        | {"marketing_consent": False, "phone": lambda w: w.member_a["phone"]}
    ],
    ("POST", "/api/v1/purchases"): [
        {"member_id": DROP, "phone": lambda w: w.member_a["phone"], "channel": "online"},
        {"member_id": DROP, "card_no": lambda w: w.member_a["card_no"]},
        {"coupon_codes": lambda w: [_coupon(w)]},
    ],
    ("POST", "/api/v1/checkout/quote"): [{"coupon_codes": lambda w: [_coupon(w)]}],
    ("POST", "/api/v1/returns"): [
        {"lines": [{"line_no": 1, "quantity": 1}], "original_store_id": lambda w: w.store_a},
        {"refund": "10.00"},
    ],
    ("POST", "/api/v1/purchases/claims"): [
        {"member_id": DROP, "phone": lambda w: w.member_a["phone"], "total": _claim_total},
        {"member_id": DROP, "card_no": lambda w: w.member_a["card_no"]},
        {"member_id": DROP, "member_code": lambda w: w.member_a["member_code"]},
    ],
    ("POST", "/api/v1/points/redeem"): [{"order_id": "till-order-1", "order_total": "100.00"}],
    ("POST", "/api/v1/offers/{code}/coupons"): [
        {"count": DROP, "member_ids": lambda w: [w.member_a["id"]]},
    ],
    ("POST", "/api/v1/staff"): [
        {"role": "cashier", "store_ids": lambda w: [w.store_a], "display_name": "Till 1"},
    ],
    ("PATCH", "/api/v1/staff/{user_id}"): [
        {"role": "cashier", "store_ids": lambda w: [w.store_a], "display_name": "Till 1", "active": True},
    ],
    # a plan with a rounding step, a store's target typed by hand, a note, and the plan it replaces
    ("PUT", "/api/v1/targets/{month}/plans/{metric}"): [
        {"step": "10.00", "targets": {"S001": "100.00"}, "note": "spring", "replaces": _current_plan}
    ],
    ("PATCH", "/api/v1/targets/{month}/plans/{metric}"): [{"note": "S001 up", "replaces": _current_plan}],
    ("PATCH", "/api/v1/programme"): [{"excluded_categories": ["tobacco", "gift_card"]}],
    # a tier's services and a reward for some tiers only (core_0027)
    ("POST", "/api/v1/tiers"): [{"services": ["vip_lane"]}],
    ("PATCH", "/api/v1/tiers/{tier_id}"): [{"services": ["vip_lane", "free_parking"]}],
    ("POST", "/api/v1/rewards"): [{"tiers": ["gold", "diamond"]}],
    ("PATCH", "/api/v1/rewards/{code}"): [{"tiers": ["gold"]}],
    ("POST", "/api/v1/merchants"): [{"currency": "CNY"}],
    ("POST", "/api/v1/stores"): [{"city": "Nanjing", "timezone": "Asia/Shanghai"}],
    ("POST", "/api/v1/auth/token"): [
        {"grant_type": "password", "scope": "", "client_id": "t", "client_secret": "s"}
    ],
}


def _case(method: str, path: str) -> Case:
    for case in CASES:
        if (case.method, case.path) == (method, path):
            return case
    raise AssertionError(f"{method} {path} is not in the authorization matrix")


def _caller(case: Case) -> str:
    for who in ("admin", "member", "pos"):
        if who in case.allowed:
            return who
    raise AssertionError(f"nobody may call {case.method} {case.path}")


def _apply(w: World, body: Any, variant: dict[str, Any]) -> Any:
    out = dict(body)
    for key, value in variant.items():
        if value is DROP:
            out.pop(key, None)
        else:
            out[key] = value(w) if callable(value) else value
    return out


# --- the request schema, field by field --------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    path: tuple[str | int, ...]
    kind: str  # string, decimal, currency, integer, boolean, date, datetime, array, object
    schema: dict[str, Any]

    @property
    def name(self) -> str:
        return ".".join(str(p) for p in self.path)


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while True:
        if "$ref" in schema:
            schema = components[schema["$ref"].rsplit("/", 1)[1]]
        elif "anyOf" in schema or "oneOf" in schema:
            options = [s for s in schema.get("anyOf", schema.get("oneOf", [])) if s.get("type") != "null"]
            schema = options[0]
        elif "allOf" in schema and len(schema["allOf"]) == 1:
            schema = schema["allOf"][0]
        else:
            return schema


def _kind(name: str, schema: dict[str, Any]) -> str:
    kind = str(schema.get("type", "object"))
    if kind == "string":
        fmt, pattern = schema.get("format"), str(schema.get("pattern", ""))
        if fmt == "date-time":
            return "datetime"
        if fmt == "date":
            return "date"
        if "[0-9]" in pattern and r"\." in pattern:
            return "decimal"
        if name == "currency":
            return "currency"
    return kind


def fields(
    schema: dict[str, Any], components: dict[str, Any], prefix: tuple[str | int, ...] = ()
) -> Iterator[Field]:
    """Every property of an object schema, recursing into objects and into a list's first item."""
    schema = _resolve(schema, components)
    for name, sub in schema.get("properties", {}).items():
        resolved = _resolve(sub, components)
        kind = _kind(name, resolved)
        yield Field((*prefix, name), kind, resolved)
        if kind == "object":
            yield from fields(resolved, components, (*prefix, name))
        elif kind == "array":
            item = _resolve(resolved.get("items", {}), components)
            item_kind = _kind(name, item)
            if item_kind == "object":
                yield from fields(item, components, (*prefix, name, 0))
            else:
                yield Field((*prefix, name, 0), item_kind, item)


def _wire(value: Any) -> bytes:
    """JSON with each `Raw` part spliced in as written."""
    raws: list[str] = []

    def placeholder(v: Any) -> Any:
        if isinstance(v, Raw):
            raws.append(v.text)
            return f"__raw_{len(raws) - 1}__"
        if isinstance(v, dict):
            return {k: placeholder(x) for k, x in v.items()}
        if isinstance(v, list):
            return [placeholder(x) for x in v]
        return v

    text_ = json.dumps(placeholder(value), ensure_ascii=False)
    for i, raw in enumerate(raws):
        text_ = text_.replace(f'"__raw_{i}__"', raw, 1)
    return text_.encode()


def _get(body: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        body = body[part]
    return body


def _reaches(body: Any, path: tuple[str | int, ...]) -> bool:
    """Whether the body has the field's container (the field itself may be absent: it is then added)."""
    node = body
    for part in path[:-1]:
        if isinstance(part, int):
            if not isinstance(node, list) or len(node) <= part:
                return False
        elif not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    if isinstance(path[-1], int):
        return isinstance(node, list) and len(node) > path[-1]
    return isinstance(node, dict)


def _present(body: Any, path: tuple[str | int, ...]) -> bool:
    if not _reaches(body, path):
        return False
    container = _get(body, path[:-1])
    return isinstance(path[-1], int) or path[-1] in container


def _set(body: Any, path: tuple[str | int, ...], value: Any) -> Any:
    out = copy.deepcopy(body)
    node = out
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return out


def _deep(depth: int) -> Raw:
    return Raw("[" * depth + "]" * depth)


def values_for(f: Field, now: datetime) -> list[tuple[str, Any]]:
    """The hostile values for one field, by its type and its schema's bounds."""
    kind, schema = f.kind, f.schema
    out: list[tuple[str, Any]] = [("nested 500 deep", _deep(500))]
    out.append(
        ("wrong type (string)", "x") if kind in {"object", "array"} else ("wrong type (object)", {"$gt": ""})
    )
    if kind in {"string", "decimal", "currency", "date", "datetime"}:
        out += [
            ("NUL byte", "a\x00b"),
            ("escape sequence", "a\x1b[2Jb"),
            (f"{LONG_TEXT:,} characters", "x" * LONG_TEXT),
            ("a number", 12345),
        ]
    if kind == "decimal":
        out += [
            ("negative", "-1.00"),
            ("1e400", "1e400"),
            ("NaN", "NaN"),
            ("sub-minor", "0.001"),
            ("JSON float", 0.1),
        ]
    if kind == "currency":
        out += [("another currency", "USD"), ("lower case", "cny")]
    if kind == "integer":
        out += [
            ("2**70", 2**70),
            ("-2**70", -(2**70)),
            ("1e400", Raw("1e400")),
            ("fraction", 1.5),
            ("text", "twelve"),
        ]
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is not None:
            out.append(("below the minimum", int(low) - 1))
        if high is not None:
            out.append(("above the maximum", int(high) + 1))
        if low is None or low >= 0:
            out.append(("negative", -1))
    if kind == "boolean":
        out += [("text", "maybe"), ("number", 2)]
    if kind == "date":
        out += [("year 1", "0001-01-01"), ("year 9999", "9999-12-31"), ("far future", "2999-01-01")]
        out += [("impossible", "2026-02-30")]
    if kind == "datetime":
        out += [
            ("year 1", "0001-01-01T00:00:00+08:00"),
            ("year 9999", "9999-12-31T23:59:59-08:00"),
            ("far future", "2999-01-01T00:00:00+00:00"),
            ("a year ahead", (now + timedelta(days=365)).isoformat()),
            ("naive", "2026-03-01T10:00:00"),
        ]
    if kind == "array" and "maxItems" in schema:
        out.append(("one item too many", ["x"] * (int(schema["maxItems"]) + 1)))
    return out


# --- nothing written ---------------------------------------------------------------------------------


_TABLES: dict[str, list[str]] = {}


def _tables(engine: Engine) -> list[str]:
    """The schema's tables, read once per database: no attack creates or drops one."""
    key = engine.url.render_as_string()
    if key not in _TABLES:
        _TABLES[key] = sorted(n for n in inspect(engine).get_table_names() if n != "alembic_version")
    return _TABLES[key]


def db_state(engine: Engine) -> dict[str, tuple[int, str]]:
    """Every table's row count and a digest of its rows, in one read transaction.

    On PostgreSQL the server digests each table's rows as text, all tables in one statement (a
    round trip per table made this test's reads most of its time); SQLite's rows are read here."""
    names = _tables(engine)
    state: dict[str, tuple[int, str]] = {}
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            digests = " UNION ALL ".join(
                f"SELECT '{name}', count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), ''))"
                f' FROM "{name}" t'
                for name in names
            )
            return {name: (int(n), digest) for name, n, digest in conn.exec_driver_sql(digests)}
        for name in names:
            rows = sorted(repr(tuple(r)) for r in conn.exec_driver_sql(f'SELECT * FROM "{name}"'))
            state[name] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
    return state


def changed(before: dict[str, tuple[int, str]], after: dict[str, tuple[int, str]]) -> list[str]:
    return [
        f"{name} {before.get(name, (0, ''))[0]}→{after.get(name, (0, ''))[0]} rows"
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    ]


# --- the attacks -------------------------------------------------------------------------------------


def _problem_names(resp: Any, field: str | None) -> str | None:
    """Why `resp` is not the refusal wanted, or None when it is."""
    if not 400 <= resp.status_code < 500:
        return f"{resp.status_code} (wanted a 4xx)"
    if not resp.headers.get("content-type", "").startswith("application/problem+json"):
        return f"{resp.status_code} with {resp.headers.get('content-type')} (wanted problem+json)"
    if field in (None, ANY_FIELD):
        return None
    named = [str(e.get("field")) for e in resp.json().get("errors") or []]
    if any(n == field or n.startswith(field + ".") for n in named):
        return None
    return f"{resp.status_code} naming {named or 'no field'} (wanted {field!r})"


def _padded(body: Any) -> bytes:
    wire = _wire(body)
    return wire + b" " * (OVERSIZED - len(wire))


def _padded_form(body: Any) -> bytes:
    encoded = urlencode(body).encode() + b"&pad="
    return encoded + b"x" * (OVERSIZED - len(encoded))


FORM = {"content-type": "application/x-www-form-urlencoded"}


def body_attacks(form: bool) -> list[Attack]:
    """Attacks on the body as a whole."""
    if form:
        return [
            Attack(
                "form padded past 10 MB", ANY_FIELD, content=_padded_form, headers=FORM, expect_status=413
            ),
            Attack("JSON sent to a form", "username", content=_wire),
        ]
    return [
        Attack("valid body padded past 10 MB", ANY_FIELD, content=_padded, expect_status=413),
        Attack("malformed JSON", "body", content=lambda b: _wire(b)[:-1] + b","),
        Attack("not an object", "body", content=lambda b: b"[]"),
        Attack("not UTF-8", "body", content=lambda b: _wire(b)[:-1] + b', "x": "\xff\xfe"}'),
        Attack(f"nested {DEEP:,} deep", "body", content=lambda b: _wire(_deep(DEEP))),
        Attack("unknown field", "is_admin", body=lambda b: {**b, "is_admin": True}),
    ]


def field_attacks(f: Field, now: datetime, form: bool) -> list[Attack]:
    """The field's hostile values (a form carries text only)."""
    return [
        Attack(f"{f.name}: {label}", f.name, body=lambda b, v=value: _set(b, f.path, v))
        for label, value in values_for(f, now)
        if not form or isinstance(value, str)
    ]


@dataclass
class Target:
    """One write, its caller, and the valid bodies the attacks start from."""

    method: str
    path: str
    case: Case
    caller: str
    variants: list[dict[str, Any]]
    form: bool
    request_schema: dict[str, Any] | None
    components: dict[str, Any]
    takes_idempotency_key: bool

    @property
    def payload(self) -> str:
        return "data" if self.form else "json"

    def build(self, w: World, variant: int) -> dict[str, Any]:
        kwargs = self.case.build(w)
        if variant:
            kwargs[self.payload] = _apply(w, kwargs[self.payload], self.variants[variant - 1])
        return kwargs


def target(w: World, method: str, path: str) -> Target:
    spec = w.app.openapi()
    operation = spec["paths"][path][method.lower()]
    content = operation.get("requestBody", {}).get("content", {})
    form = "application/x-www-form-urlencoded" in content
    media = content.get("application/json") or content.get("application/x-www-form-urlencoded")
    case = _case(method, path)
    return Target(
        method,
        path,
        case,
        _caller(case),
        VARIANTS.get((method, path), []),
        form,
        media["schema"] if media else None,
        spec.get("components", {}).get("schemas", {}),
        any(p.get("name") == "Idempotency-Key" for p in operation.get("parameters", [])),
    )


def send(w: World, t: Target, kwargs: dict[str, Any], attack: Attack | None) -> Any:
    """The valid request `kwargs`, or the attack made from it."""
    headers = dict(w.as_(t.caller))
    request = {k: v for k, v in kwargs.items() if k not in {"json", "data"}}
    valid = kwargs.get(t.payload)
    if attack is not None and attack.content is not None:
        request["content"] = attack.content(valid)
        headers["content-type"] = "application/json"
    elif attack is not None and attack.body is not None:
        hostile = attack.body(valid)
        if t.form:
            request["data"] = hostile
        else:
            request["content"] = _wire(hostile)
            headers["content-type"] = "application/json"
    elif valid is not None:
        request[t.payload] = valid
    if attack is not None and attack.headers:
        headers.update(attack.headers)
    return w.client.request(t.method, headers=headers, **request)


WRITES = sorted((c.method, c.path) for c in CASES if c.method in {"POST", "PUT", "PATCH", "DELETE"})


def test_every_write_is_attacked(world: World) -> None:
    """The writes below are the app's: a new one cannot escape the attacks (nor the matrix)."""
    assert set(WRITES) == write_routes(world.app)


@pytest.mark.parametrize(("method", "path"), WRITES, ids=[f"{m} {p}" for m, p in WRITES])
def test_hostile_input_is_refused_naming_the_field_and_writes_nothing(
    world: World, method: str, path: str
) -> None:
    t = target(world, method, path)
    now = datetime.now(UTC)
    engine: Engine = world.ctx.engine
    failures: list[str] = []

    # The valid bodies first: each must succeed, or a refusal below proves nothing.
    bodies: list[Any] = []
    for variant in range(len(t.variants) + 1):
        kwargs = t.build(world, variant)
        resp = send(world, t, kwargs, None)
        assert 200 <= resp.status_code < 300, (
            f"variant {variant} of {method} {path}: {resp.status_code} {resp.text[:300]}"
        )
        bodies.append(kwargs.get(t.payload))

    attacks: list[tuple[int, Attack]] = []
    if bodies[0] is not None:
        attacks += [(0, a) for a in body_attacks(t.form)]
        unreached = []
        for f in fields(t.request_schema or {}, t.components):
            variant = next((i for i, b in enumerate(bodies) if _present(b, f.path)), None)
            if variant is None:
                variant = next((i for i, b in enumerate(bodies) if _reaches(b, f.path)), None)
            if variant is None:
                unreached.append(f.name)
                continue
            attacks += [(variant, a) for a in field_attacks(f, now, t.form)]
        assert not unreached, f"no valid body reaches {unreached}: add a variant to VARIANTS"
    else:  # a write without a body still must not read one whole
        padding = Attack("10 MB body", ANY_FIELD, content=lambda b: b" " * OVERSIZED, expect_status=413)
        attacks.append((0, padding))
    if t.takes_idempotency_key:
        key = {"Idempotency-Key": "k" * 151}
        attacks.append((0, Attack("over-long Idempotency-Key", "header.Idempotency-Key", headers=key)))

    # Each attack on a fresh valid request; it is built anew only after a request that changed data.
    # An attack's `after` is the next one's `before` unless a request was built in between (which may
    # write): a write that lands late is then still caught, by the attack after.
    built: dict[int, dict[str, Any]] = {}
    state: dict[str, tuple[int, str]] | None = None
    for variant, attack in attacks:
        if variant not in built:
            built[variant] = t.build(world, variant)
            state = None
        before = state if state is not None else db_state(engine)
        resp = send(world, t, built[variant], attack)
        after = state = db_state(engine)
        why = _problem_names(resp, attack.field)
        if why is None and attack.expect_status is not None and resp.status_code != attack.expect_status:
            why = f"{resp.status_code} (wanted {attack.expect_status})"
        written = changed(before, after)
        if written:
            built.pop(variant)
            why = f"{why + '; ' if why else ''}wrote {', '.join(written)}"
        if why:
            failures.append(f"{attack.label}: {why} — {resp.text[:200]}")
    assert not failures, (
        f"{method} {path}, as {t.caller}, {len(failures)} of {len(attacks)} attacks:\n" + "\n".join(failures)
    )


def _path_cases() -> list[Case]:
    return [c for c in CASES if "{" in c.path]


@pytest.mark.parametrize("case", _path_cases(), ids=lambda c: f"{c.method} {c.path}")
def test_hostile_path_ids_are_refused_naming_the_parameter(world: World, case: Case) -> None:
    """Ids in the path, reads included: a number no id can be, text, zero and below."""
    engine: Engine = world.ctx.engine
    caller = _caller(case)
    name = case.path.split("{", 1)[1].split("}", 1)[0]
    failures = []
    for label, value in (
        ("2**70", str(2**70)),
        ("1e400", "1e400"),
        ("zero", "0"),
        ("negative", "-1"),
        ("text", "abc"),
    ):
        kwargs = case.build(world)
        url = case.path.replace("{" + name + "}", value)
        kwargs = {k: v for k, v in kwargs.items() if k != "url"}
        before = db_state(engine)
        resp = world.client.request(case.method, url, headers=world.as_(caller), **kwargs)
        why = _problem_names(resp, f"path.{name}")
        written = changed(before, db_state(engine))
        if written:
            why = f"{why + '; ' if why else ''}wrote {', '.join(written)}"
        if why:
            failures.append(f"{label}: {why} — {resp.text[:200]}")
    assert not failures, f"{case.method} {case.path}:\n" + "\n".join(failures)


def test_a_sale_too_large_to_store_is_refused_naming_its_lines(world: World) -> None:
    """Every line at the largest price and quantity the schema allows: the total (5·10^20 fen) does
    not fit a 64-bit column. It was a 500 on SQLite (OverflowError) and an unnamed 422 on PostgreSQL."""
    body = purchase_body(world.store_a, world.member_a["id"], "too-large-1")
    body["lines"] = [
        {"sku": f"S{i}", "quantity": 10_000, "unit_price": "999999999999.99"} for i in range(500)
    ]
    before = db_state(world.ctx.engine)
    resp = world.client.post("/api/v1/purchases", json=body, headers=world.as_("pos"))
    assert _problem_names(resp, "lines") is None, resp.text
    assert changed(before, db_state(world.ctx.engine)) == []
