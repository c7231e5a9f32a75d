"""A programme's earning rules as one YAML document: exported, kept in git, validated and imported.

The document is the rules in force with a header saying whose they are::

    programme: default          # the programme's code
    currency: CNY               # amounts (min_spend) are in it
    exported_at: "2026-12-05T08:00:00+00:00"
    rules:
      - code: member-day
        name: 会员日双倍积分
        kind: multiplier
        multiplier_pct: 200
        when: {member_day: {days_of_month: [8]}}

Each rule is in the form `domain.programme.rules.parse_rule` reads (the API's and the CLI's too).
`validate` checks the whole document before anything is written and names every bad field
(``rules[2].when.hours``), the stores, tiers and channels a rule names included; `import_rules` then
defines the rules that are new or changed (`book.define_rules`: all of them or none, versioned from
`effective_from`, never backdated, audited). A rule in force that the document leaves out is kept,
unless `retire_missing` is asked for: then it ends when the document's rules start, in the same
transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import yaml
from sqlalchemy import Connection, select

from loyalty.bootstrap import Context
from loyalty.db.core_tables import programmes
from loyalty.domain.actors import Actor
from loyalty.domain.errors import DomainError, InvalidInput, field_error
from loyalty.domain.programme.rules import RuleSpec, parse_rule
from loyalty.services.common import read
from loyalty.services.earning_rules import book

#: the document's own fields; anything else is refused (a typing mistake in a header is not ignored)
HEADER = ("programme", "currency", "exported_at", "rules")
#: the most rules one document may define (a programme, not a catalogue)
MAX_RULES = 500
MEDIA_TYPE = "application/yaml"

Action = Literal["new", "changed", "unchanged", "retired", "kept"]


@dataclass(frozen=True)
class RuleChange:
    """What importing a document does (or would do) to one rule."""

    code: str
    action: Action  # kept: in force, left out of the document, and not retired
    version: int | None  # the version written, or in force (None: a new rule not yet written)


@dataclass(frozen=True)
class ImportResult:
    """The programme, whether anything was written, and each rule's fate."""

    programme: str
    dry_run: bool
    effective_from: datetime | None
    changes: list[RuleChange]

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action == action)


@dataclass(frozen=True)
class _Programme:
    id: int
    code: str
    currency: str


@dataclass(frozen=True)
class Checked:
    """A document found valid: its programme and its rules, parsed, in the document's order."""

    programme: str
    raw: list[dict[str, Any]]
    specs: list[RuleSpec]


def _programme(conn: Connection, code: str | None) -> _Programme:
    pid = book.programme_id_of(conn, code)
    row = conn.execute(select(programmes.c.code, programmes.c.currency).where(programmes.c.id == pid)).one()
    return _Programme(pid, str(row.code), str(row.currency))


# --- export ---------------------------------------------------------------------------------------


def export_document(ctx: Context, *, programme: str | None = None) -> dict[str, Any]:
    """The rules in force now, with the header (programme code, currency, when exported)."""
    with read(ctx) as conn:
        found = _programme(conn, programme)
    versions = book.list_rules(ctx, programme=found.code)
    return {
        "programme": found.code,
        "currency": found.currency,
        "exported_at": ctx.now().isoformat(),
        "rules": [v.spec.as_dict() for v in versions],
    }


#: the comment on top of an exported rules document
RULES_COMMENT = (
    "# Earning rules of a loyalty programme: `loyalty programme rules import FILE` reads this back\n"
    "# (see docs/marketer-guide.md for every rule kind and condition).\n"
)


def dump(document: dict[str, Any], comment: str = RULES_COMMENT) -> str:
    """`document` as YAML text (keys in the order given, Chinese as it is), with `comment` on top."""
    body = yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=100, default_flow_style=None)
    return comment + body


def dump_rules(rules: list[dict[str, Any]]) -> str:
    """Rule definitions as a YAML list (the console's box, a preset), without a header."""
    return yaml.safe_dump(rules, allow_unicode=True, sort_keys=False, width=100, default_flow_style=None)


def inline(value: Any) -> str:
    """`value` (a rule's conditions or limits) as one line of YAML, for a table cell."""
    return str(yaml.safe_dump(value, allow_unicode=True, default_flow_style=True, width=100_000)).strip()


def export_yaml(ctx: Context, *, programme: str | None = None) -> str:
    """The rules in force now as a YAML document (`export_document`)."""
    return dump(export_document(ctx, programme=programme))


# --- reading and validating -----------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2's booleans: only true and false. YAML 1.1 also reads on, off,
    yes and no as booleans, which would turn an event bonus's `on: registration` into `True: …`."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load(text: str) -> Any:
    """The YAML text parsed (safe types only, YAML 1.2's booleans); RULES_YAML_INVALID naming `yaml`
    and the line when it is not YAML."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = str(getattr(exc, "problem", None) or "unreadable")
        raise InvalidInput.field(
            "yaml",
            "is not valid YAML: {problem} (line {line}, column {column})",
            "RULES_YAML_INVALID",
            {
                "problem": problem,
                "line": mark.line + 1 if mark is not None else 0,
                "column": mark.column + 1 if mark is not None else 0,
            },
        ) from exc


def rules_of(document: Any) -> list[Any]:
    """The rule definitions of a document, a bare list of rules, or one rule (the console's box takes
    any of them); every other shape is refused naming `rules`."""
    if isinstance(document, list):
        return document
    if isinstance(document, dict) and "rules" in document:
        rules = document["rules"]
        if rules is None:
            return []
        if isinstance(rules, list):
            return rules
    elif isinstance(document, dict) and "code" in document:
        return [document]
    raise InvalidInput.field("rules", "must be a list of rules", "RULE_INVALID")


def validate(ctx: Context, document: Any, *, programme: str | None = None) -> Checked:
    """Check a whole document (as `load` reads it) without writing anything: the header, then every
    rule (`rules[i].field`), duplicate codes, and the stores, tiers and channels the rules name.
    One `InvalidInput` (RULE_INVALID) names every bad field; a valid document comes back parsed."""
    errors: list[dict[str, Any]] = []
    header = header_of(document)
    for name in sorted(set(header) - set(HEADER), key=str):
        errors.append(field_error(str(name), "is not a field of a programme's rules document"))
    raw_rules = rules_of(document)
    with read(ctx) as conn:
        found = check_header(conn, header, programme, errors)
        specs = check_rules(conn, raw_rules, errors)
    raise_errors(errors, "RULE_INVALID")
    return Checked(found.code, [dict(r) for r in raw_rules], specs)


def header_of(document: Any) -> dict[Any, Any]:
    """A document's top-level fields ({} for a bare list of rules or a single rule)."""
    return document if isinstance(document, dict) and "code" not in document else {}


def raise_errors(errors: list[dict[str, Any]], code: str) -> None:
    """One `InvalidInput` naming every bad field of a document, the first in its message."""
    if errors:
        first = errors[0]
        raise InvalidInput(
            code,
            "the rule cannot work: {field}: {reason}",
            {"field": first["field"], "reason": first["message"], "errors": errors},
        )


def check_header(
    conn: Connection, header: dict[Any, Any], programme: str | None, errors: list[dict[str, Any]]
) -> _Programme:
    """The programme a document's header names (or `programme`), its currency the programme's; bad
    fields appended to `errors`. RULE_INVALID naming `programme` when no programme has its code."""
    named = header.get("programme")
    if named is not None and not isinstance(named, str):
        errors.append(field_error("programme", "must be a programme's code"))
        named = None
    if programme is not None and named is not None and named != programme:
        errors.append(
            field_error(
                "programme",
                "the document is for programme {value}, not {expected}",
                {"value": named, "expected": programme},
            )
        )
    try:
        found = _programme(conn, programme or named)
    except DomainError:
        raise InvalidInput.field(
            "programme",
            "no programme has the code {value}",
            "RULE_INVALID",
            {"value": programme or named},
        ) from None
    currency = header.get("currency")
    if currency is not None and str(currency).upper() != found.currency:
        errors.append(
            field_error(
                "currency",
                "the programme's currency is {expected}, not {value}: its amounts would mean something else",
                {"expected": found.currency, "value": currency},
            )
        )
    return found


def check_rules(conn: Connection, raw_rules: list[Any], errors: list[dict[str, Any]]) -> list[RuleSpec]:
    """Every rule parsed (`rules[i].field`), no code twice, the stores, tiers and channels named
    existing; bad fields appended to `errors`, the rules that parsed returned in order."""
    if len(raw_rules) > MAX_RULES:
        raise InvalidInput.field(
            "rules", "a document defines at most {n} rules", "RULE_INVALID", {"n": MAX_RULES}
        )
    specs: list[RuleSpec] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_rules):
        prefix = f"rules[{i}]."
        try:
            spec = parse_rule(raw, prefix)
        except InvalidInput as exc:
            errors.extend((exc.details or {}).get("errors") or [])
            continue
        if spec.code in seen:
            errors.append(
                field_error(
                    f"{prefix}code",
                    "names the rule {value} a second time (first: rules[{first}])",
                    {"value": spec.code, "first": seen[spec.code]},
                )
            )
        seen.setdefault(spec.code, i)
        try:
            book.check_references(conn, spec.when, prefix)
        except InvalidInput as exc:
            errors.extend((exc.details or {}).get("errors") or [])
        specs.append(spec)
    return specs


# --- import ---------------------------------------------------------------------------------------


def plan_rules(ctx: Context, checked: Checked, *, retire_missing: bool) -> tuple[list[RuleChange], list[str]]:
    """What importing `checked` does to each rule (the document's in its order, then those in force
    it leaves out), and the codes of those left out."""
    in_force = {v.spec.code: v for v in book.list_rules(ctx, programme=checked.programme)}
    changes: list[RuleChange] = []
    for spec in checked.specs:
        current = in_force.get(spec.code)
        if current is None:
            changes.append(RuleChange(spec.code, "new", None))
        elif current.spec.as_dict() == spec.as_dict():
            changes.append(RuleChange(spec.code, "unchanged", current.version))
        else:
            changes.append(RuleChange(spec.code, "changed", current.version + 1))
    in_file = {s.code for s in checked.specs}
    missing = [code for code in in_force if code not in in_file]
    for code in missing:
        changes.append(RuleChange(code, "retired" if retire_missing else "kept", in_force[code].version))
    return changes, missing


def import_rules(
    ctx: Context,
    document: Any,
    *,
    programme: str | None = None,
    effective_from: datetime | None = None,
    retire_missing: bool = False,
    dry_run: bool = False,
    actor: Actor | None = None,
) -> ImportResult:
    """Validate `document` (YAML text or as `load` reads it) and, unless `dry_run`, define its new and
    changed rules from `effective_from` (now by default), retiring those it leaves out when
    `retire_missing`: all in one transaction, or nothing."""
    if isinstance(document, str):
        document = load(document)
    checked = validate(ctx, document, programme=programme)
    if effective_from is not None:
        book.check_start(ctx, effective_from)
    changes, missing = plan_rules(ctx, checked, retire_missing=retire_missing)
    if not dry_run:
        wanted = [raw for raw, c in zip(checked.raw, changes, strict=False) if c.action != "unchanged"]
        written = book.define_rules(
            ctx,
            wanted,
            programme=checked.programme,
            effective_from=effective_from,
            actor=actor,
            retire=missing if retire_missing else (),
        )
        versions = {v.spec.code: v.version for v in written}
        changes = [
            RuleChange(c.code, c.action, versions.get(c.code, c.version))
            if c.action in ("new", "changed")
            else c
            for c in changes
        ]
    return ImportResult(checked.programme, dry_run, effective_from, changes)
