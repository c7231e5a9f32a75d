"""A whole programme as one YAML document: its earning rules and its offers, exported, kept in git,
validated and imported.

The document is the rules document of `earning_rules.yaml_io` with the offers beside the rules::

    programme: default
    currency: CNY
    exported_at: "2026-12-05T08:00:00+00:00"
    rules:
      - {code: member-day, name: 会员日双倍积分, kind: multiplier, multiplier_pct: 200,
         when: {member_day: {days_of_month: [8]}}}
    offers:
      - code: spring-100-20            # the form `domain.programme.offers.parse_offer` reads …
        name: 满100减20
        kind: ladder
        steps: [{over: "100.00", off: "20.00"}]
        automatic: true
        limits: {per_member: 1, validity_days: 30}   # … with its limits (budget in the currency)
        valid_to: "2027-01-31T23:59:00+08:00"        # and its period (valid_from: scheduled only)

A rules-only document (older files, `yaml_io`) is one whose `offers` are absent: importing it leaves
the offers alone, as a document without `rules` leaves the rules alone. `validate` checks the whole
document before anything is written and names every bad field (``offers[3].steps[1].over``, a code
twice, a store or tier the chain does not have); `import_document` then writes, in ONE transaction,
the rules that are new or changed (versioned from `effective_from`, `earning_rules.book`), the offers
that are new, and the offers that changed — in place, and only while the offer has issued no coupon
and discounted no sale: an offer in use is a promise to members, so a change to it is refused naming
`offers[i]`, and the marketer defines the change under a new code and ends the old one. With
`retire_missing` the rules and the running offers the document leaves out end at the same time.
Importing a document twice writes nothing the second time ("unchanged"); every write is audited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Connection, exists, func, or_, select, update

from loyalty.bootstrap import Context
from loyalty.db.offer_tables import coupon_uses, coupons, offers
from loyalty.domain.actors import SYSTEM, Actor
from loyalty.domain.errors import Conflict, InvalidInput, field_error
from loyalty.domain.programme.fields import FieldErrors, money, whole_number
from loyalty.domain.programme.offers import OfferSpec, parse_offer
from loyalty.services import audit
from loyalty.services.common import read
from loyalty.services.earning_rules import book as rules_book
from loyalty.services.earning_rules import yaml_io
from loyalty.services.earning_rules.yaml_io import RuleChange
from loyalty.services.offers import book as offers_book
from loyalty.services.offers import manage
from loyalty.services.offers.manage import offer_definition

#: the document's own fields; anything else is refused
HEADER = ("programme", "currency", "exported_at", "rules", "offers")
#: what an offer's entry holds besides its definition
OFFER_EXTRA = ("limits", "valid_from", "valid_to")
LIMIT_FIELDS = ("per_member", "max_uses", "budget", "activation_days", "validity_days")
#: the most offers one document may define
MAX_OFFERS = 500
MEDIA_TYPE = yaml_io.MEDIA_TYPE

OfferAction = Literal["new", "changed", "unchanged", "ended", "kept"]


@dataclass(frozen=True)
class OfferChange:
    """What importing a document does (or would do) to one offer."""

    code: str
    action: OfferAction  # kept: running, left out of the document, and not ended


@dataclass(frozen=True)
class DocumentResult:
    """The programme, whether anything was written, and each rule's and offer's fate (None: the
    document has no `rules` or no `offers`, which were left alone)."""

    programme: str
    dry_run: bool
    effective_from: datetime | None
    rules: list[RuleChange] | None
    offers: list[OfferChange] | None

    @property
    def unchanged(self) -> bool:
        """Nothing to write: every rule and offer the document names is as it is."""
        actions = {c.action for c in self.rules or []} | {c.action for c in self.offers or []}
        return actions <= {"unchanged", "kept"}


@dataclass(frozen=True)
class CheckedOffer:
    """One offer of a valid document: its entry, definition, limits and period as given."""

    index: int
    raw: dict[str, Any]
    spec: OfferSpec
    limits: offers_book.OfferLimits
    valid_from: datetime | None
    valid_to: datetime | None


@dataclass(frozen=True)
class CheckedDocument:
    """A document found valid, parsed; `rules`/`offers` None where the document leaves them out."""

    programme: str
    rules: yaml_io.Checked | None
    offers: list[CheckedOffer] | None = field(default=None)


def _aware(value: datetime | None) -> datetime | None:
    """A stored time as an aware one (SQLite reads them back naive, in UTC)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


# --- export ---------------------------------------------------------------------------------------


def offer_entry(state: offers_book.OfferOut, now: datetime) -> dict[str, Any]:
    """An offer as the document holds it: its definition, then its limits and period where set (its
    start only while it lies ahead: a running offer's start is history, not a setting)."""
    entry = offer_definition(state.spec)
    limits = state.limits
    given: dict[str, Any] = {}
    if limits.per_member is not None:
        given["per_member"] = limits.per_member
    if limits.max_uses is not None:
        given["max_uses"] = limits.max_uses
    if limits.budget_minor is not None:
        given["budget"] = _major(limits.budget_minor)
    if limits.activation_days:
        given["activation_days"] = limits.activation_days
    if limits.validity_days is not None:
        given["validity_days"] = limits.validity_days
    if given:
        entry["limits"] = given
    start, end = _aware(state.valid_from), _aware(state.valid_to)
    if start is not None and start > now:
        entry["valid_from"] = start.isoformat()
    if end is not None:
        entry["valid_to"] = end.isoformat()
    return entry


def _major(minor: int) -> str:
    """An amount in major units, as a definition writes it ("5000.00")."""
    return f"{Decimal(minor).scaleb(-2):.2f}"


def export_document(ctx: Context, *, programme: str | None = None) -> dict[str, Any]:
    """The rules in force and the offers running or scheduled now, with the header."""
    document = yaml_io.export_document(ctx, programme=programme)
    now = ctx.now()
    states = manage.list_offers(ctx, programme=document["programme"])
    document["offers"] = [offer_entry(s.offer, now) for s in states if s.status != "ended"]
    return document


#: the comment on top of an exported programme
COMMENT = (
    "# A loyalty programme: its earning rules and offers. `loyalty programme import FILE` reads this\n"
    "# back (see docs/marketer-guide.md for every rule kind, offer kind and preset).\n"
)


def dump(document: dict[str, Any]) -> str:
    """The whole document as YAML text (`yaml_io.dump`), with a comment on top."""
    return yaml_io.dump(document, COMMENT)


def export_yaml(ctx: Context, *, programme: str | None = None) -> str:
    """The whole programme now as a YAML document (`export_document`)."""
    return dump(export_document(ctx, programme=programme))


# --- validating -----------------------------------------------------------------------------------


def _time(raw: Any, name: str, errors: FieldErrors) -> datetime | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        try:
            raw = datetime.fromisoformat(raw)
        except ValueError:
            errors.add(name, "must be a time such as 2026-12-08T00:00:00+08:00")
            return None
    if not isinstance(raw, datetime):
        errors.add(name, "must be a time such as 2026-12-08T00:00:00+08:00")
        return None
    if raw.tzinfo is None:
        errors.add(name, "needs a time zone (e.g. 2026-12-08T00:00:00+08:00)")
        return None
    return raw


def _limits(raw: Any, errors: FieldErrors) -> offers_book.OfferLimits:
    """An offer entry's `limits` (what `define_offer` takes as options): uses per member, in all,
    the budget in the currency, and the days a coupon waits and lasts."""
    if raw is None:
        return offers_book.OfferLimits()
    if not isinstance(raw, dict):
        errors.add(
            "limits", "must be a mapping: per_member, max_uses, budget, activation_days, validity_days"
        )
        return offers_book.OfferLimits()
    for name in sorted(set(raw) - set(LIMIT_FIELDS), key=str):
        errors.add(f"limits.{name}", "is not a limit of an offer")

    def count(name: str, most: int, low: int = 1) -> int | None:
        value = raw.get(name)
        return None if value is None else whole_number(value, f"limits.{name}", errors, low, most)

    budget = raw.get("budget")
    budget_minor = None if budget is None else money(budget, "limits.budget", errors, 100)
    if budget is not None and not budget_minor:
        errors.add("limits.budget", "must be more than zero")
    return offers_book.OfferLimits(
        per_member=count("per_member", offers_book.MAX_PER_MEMBER),
        max_uses=count("max_uses", offers_book.MAX_USES),
        budget_minor=budget_minor,
        activation_days=count("activation_days", offers_book.MAX_ACTIVATION_DAYS, 0) or 0,
        validity_days=count("validity_days", offers_book.MAX_VALIDITY_DAYS),
    )


def _errors_of(exc: InvalidInput) -> list[dict[str, Any]]:
    return list((exc.details or {}).get("errors") or [])


def check_offers(conn: Connection, raw_offers: Any, errors: list[dict[str, Any]]) -> list[CheckedOffer]:
    """Every offer of a document parsed (`offers[i].field`), its limits and period read, no code
    twice, the stores, tiers and channels it names existing; bad fields appended to `errors`."""
    if raw_offers is None:
        return []
    if not isinstance(raw_offers, list):
        errors.append(field_error("offers", "must be a list of offers"))
        return []
    if len(raw_offers) > MAX_OFFERS:
        raise InvalidInput.field(
            "offers", "a document defines at most {n} offers", "PROGRAMME_INVALID", {"n": MAX_OFFERS}
        )
    checked: list[CheckedOffer] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(raw_offers):
        prefix = f"offers[{i}]."
        if not isinstance(entry, dict):
            errors.append(field_error(f"offers[{i}]", "an offer is a mapping of fields"))
            continue
        definition = {k: v for k, v in entry.items() if k not in OFFER_EXTRA}
        extra = FieldErrors(prefix)
        limits = _limits(entry.get("limits"), extra)
        valid_from = _time(entry.get("valid_from"), "valid_from", extra)
        valid_to = _time(entry.get("valid_to"), "valid_to", extra)
        try:
            spec = parse_offer(definition, prefix)
        except InvalidInput as exc:
            errors.extend(_errors_of(exc))
            errors.extend(extra.entries)
            continue
        errors.extend(extra.entries)
        if spec.code in seen:
            errors.append(
                field_error(
                    f"{prefix}code",
                    "names the offer {value} a second time (first: offers[{first}])",
                    {"value": spec.code, "first": seen[spec.code]},
                )
            )
        seen.setdefault(spec.code, i)
        if not extra.entries:
            try:
                offers_book.check_limits(limits, spec, prefix + "limits.")
            except InvalidInput as exc:
                errors.extend(_errors_of(exc))
        try:
            rules_book.check_references(conn, spec.when, prefix)
        except InvalidInput as exc:
            errors.extend(_errors_of(exc))
        checked.append(CheckedOffer(i, definition, spec, limits, valid_from, valid_to))
    return checked


def _parts(document: Any) -> tuple[dict[Any, Any], Any, Any, bool, bool]:
    """(header, rules, offers, has rules, has offers) of a whole document, a rules document, a bare
    list of rules or a single rule."""
    if isinstance(document, dict) and "code" not in document:
        return (
            document,
            document.get("rules"),
            document.get("offers"),
            "rules" in document,
            ("offers" in document),
        )
    return {}, yaml_io.rules_of(document), None, True, False


def validate(ctx: Context, document: Any, *, programme: str | None = None) -> CheckedDocument:
    """Check a whole document (as `yaml_io.load` reads it) without writing anything: the header,
    every rule (`rules[i].field`) and every offer (`offers[i].field`). One `InvalidInput`
    (PROGRAMME_INVALID) names every bad field; a valid document comes back parsed."""
    if not isinstance(document, dict | list):
        raise InvalidInput.field("yaml", "must be a programme: programme, currency, rules, offers")
    header, raw_rules, raw_offers, has_rules, has_offers = _parts(document)
    errors: list[dict[str, Any]] = []
    for name in sorted(set(header) - set(HEADER), key=str):
        errors.append(field_error(str(name), "is not a field of a programme's document"))
    rules: list[Any] = []
    if has_rules:
        try:
            rules = yaml_io.rules_of({"rules": raw_rules})
        except InvalidInput as exc:
            errors.extend(_errors_of(exc))
    with read(ctx) as conn:
        found = yaml_io.check_header(conn, header, programme, errors)
        specs = yaml_io.check_rules(conn, rules, errors)
        checked_offers = check_offers(conn, raw_offers, errors) if has_offers else []
    if errors:
        first = errors[0]
        raise InvalidInput(
            "PROGRAMME_INVALID",
            "the programme cannot work: {field}: {reason}",
            {"field": first["field"], "reason": first["message"], "errors": errors},
        )
    checked_rules = yaml_io.Checked(found.code, [dict(r) for r in rules], specs) if has_rules else None
    return CheckedDocument(found.code, checked_rules, checked_offers if has_offers else None)


# --- import ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Planned:
    """An offer's fate, with what is stored of it (None: new)."""

    offer: CheckedOffer
    action: OfferAction
    stored: Any


def _in_use(conn: Connection, offer_id: int) -> tuple[int, int]:
    """(coupons issued, uses) of an offer: a coupon or a discounted sale makes it a promise."""
    issued = conn.execute(select(func.count()).where(coupons.c.offer_id == offer_id)).scalar_one()
    used = conn.execute(select(func.count()).where(coupon_uses.c.offer_id == offer_id)).scalar_one()
    return int(issued), int(used)


def _same(offer: CheckedOffer, stored: Any) -> bool:
    stored_out = offers_book.offer_out(stored)
    start, end = _aware(stored.valid_from), _aware(stored.valid_to)
    return (
        offer_definition(stored_out.spec) == offer_definition(offer.spec)
        and stored_out.limits == offer.limits
        and (offer.valid_from is None or offer.valid_from == start)
        and offer.valid_to == end
    )


def _plan_offers(
    conn: Connection,
    ctx: Context,
    pid: int,
    checked: list[CheckedOffer],
    retire_missing: bool,
    errors: list[dict[str, Any]],
) -> tuple[list[_Planned], list[OfferChange]]:
    """Each offer's fate; an offer that changed but is in use (or has ended) is refused in `errors`."""
    now = ctx.now()
    rows = {r.code: r for r in conn.execute(select(offers).where(offers.c.programme_id == pid)).all()}
    planned: list[_Planned] = []
    for offer in checked:
        stored = rows.get(offer.spec.code)
        if stored is None:
            planned.append(_Planned(offer, "new", None))
            continue
        if _same(offer, stored):
            planned.append(_Planned(offer, "unchanged", stored))
            continue
        end = _aware(stored.valid_to)
        issued, used = _in_use(conn, stored.id)
        if end is not None and end <= now:
            errors.append(
                field_error(
                    f"offers[{offer.index}]",
                    "offer {code} has ended and is not changed again: define the change under a new code",
                    {"code": offer.spec.code},
                )
            )
        elif issued or used or stored.uses or stored.discounted_minor:
            errors.append(
                field_error(
                    f"offers[{offer.index}]",
                    "offer {code} is in use ({issued} coupons issued, {used} uses) and cannot change in "
                    "place: define the change under a new code and end this offer",
                    {"code": offer.spec.code, "issued": issued, "used": max(used, int(stored.uses))},
                )
            )
        planned.append(_Planned(offer, "changed", stored))
    named = {o.spec.code for o in checked}
    left_out: list[OfferChange] = []
    for code, row in sorted(rows.items()):
        end = _aware(row.valid_to)
        if code in named or (end is not None and end <= now):
            continue
        left_out.append(OfferChange(code, "ended" if retire_missing else "kept"))
    return planned, left_out


def _checked_offer(ctx: Context, plan: _Planned, start: datetime) -> offers_book.CheckedOffer:
    """The offer's columns checked as `define_offer` checks them (its period: only what changed)."""
    offer, stored = plan.offer, plan.stored
    prefix = f"offers[{offer.index}]."
    valid_from, valid_to = offer.valid_from, offer.valid_to
    if stored is None:
        begin = offers_book.check_period(ctx.now(), valid_from, valid_to, prefix)
        begin = valid_from or max(begin, start)
        if valid_to is not None and valid_to <= begin:
            raise InvalidInput.field(f"{prefix}valid_to", "must be after valid_from", "OFFER_INVALID")
    else:
        stored_from, stored_to = _aware(stored.valid_from), _aware(stored.valid_to)
        offers_book.check_period(
            ctx.now(),
            valid_from if valid_from not in (None, stored_from) else None,
            valid_to if valid_to != stored_to else None,
            prefix,
        )
        begin = valid_from or stored_from or ctx.now()
        if valid_to is not None and valid_to <= begin:
            raise InvalidInput.field(f"{prefix}valid_to", "must be after valid_from", "OFFER_INVALID")
    return offers_book.CheckedOffer(offer.raw, offer.spec, offer.limits, begin, valid_to)


def _change_offer(
    conn: Connection, ctx: Context, plan: _Planned, checked: offers_book.CheckedOffer, actor: Actor
) -> None:
    """Change an unused offer in place (audited), re-checking in the write that it is still unused:
    a coupon issued or a sale discounted since refuses the whole import (OFFER_IN_USE)."""
    stored = plan.stored
    index = plan.offer.index
    rules_book.check_references(conn, checked.spec.when, f"offers[{index}].")
    values = offers_book.offer_values(checked)
    changed = conn.execute(
        update(offers)
        .where(
            offers.c.id == stored.id,
            offers.c.uses == 0,
            offers.c.discounted_minor == 0,
            or_(offers.c.valid_to.is_(None), offers.c.valid_to > ctx.now()),
            ~exists().where(coupons.c.offer_id == stored.id),
            ~exists().where(coupon_uses.c.offer_id == stored.id),
        )
        .values(**values)
    ).rowcount
    if changed != 1:
        raise Conflict(
            "OFFER_IN_USE",
            "offer {code} was put to use while the document was imported: nothing was written",
            {
                "code": checked.spec.code,
                "errors": [
                    field_error(
                        f"offers[{index}]",
                        "offer {code} was put to use while the document was imported: nothing was written",
                        {"code": checked.spec.code},
                    )
                ],
            },
        )
    before = {
        "definition": stored.definition,
        "valid_from": stored.valid_from,
        "valid_to": stored.valid_to,
        "per_member_limit": stored.per_member_limit,
        "max_uses": stored.max_uses,
        "budget_minor": stored.budget_minor,
        "activation_days": stored.activation_days,
        "validity_days": stored.validity_days,
    }
    audit.record(conn, actor, "offer.change", "offer", checked.spec.code, before, values, at=ctx.now())


def _end_offer(conn: Connection, ctx: Context, pid: int, code: str, end: datetime, actor: Actor) -> None:
    row = conn.execute(
        select(offers).where(offers.c.programme_id == pid, offers.c.code == code).with_for_update()
    ).one()
    at = max(end, _aware(row.valid_from) or end)
    conn.execute(update(offers).where(offers.c.id == row.id).values(valid_to=at))
    audit.record(
        conn, actor, "offer.end", "offer", code, {"valid_to": row.valid_to}, {"valid_to": at}, at=ctx.now()
    )


def import_document(
    ctx: Context,
    document: Any,
    *,
    programme: str | None = None,
    effective_from: datetime | None = None,
    retire_missing: bool = False,
    dry_run: bool = False,
    actor: Actor | None = None,
) -> DocumentResult:
    """Validate `document` (YAML text or as `yaml_io.load` reads it) and, unless `dry_run`, write its
    new and changed rules and offers (rules from `effective_from`, now by default), ending those it
    leaves out when `retire_missing`: all in one transaction, or nothing. An offer that changed while
    in use is refused (PROGRAMME_INVALID naming `offers[i]`), before anything is written."""
    if isinstance(document, str):
        document = yaml_io.load(document)
    checked = validate(ctx, document, programme=programme)
    start = rules_book.check_start(ctx, effective_from)
    who = actor or SYSTEM
    rule_changes: list[RuleChange] | None = None
    missing_rules: list[str] = []
    if checked.rules is not None:
        rule_changes, missing_rules = yaml_io.plan_rules(ctx, checked.rules, retire_missing=retire_missing)
    errors: list[dict[str, Any]] = []
    planned: list[_Planned] = []
    left_out: list[OfferChange] = []
    with read(ctx) as conn:
        pid = rules_book.programme_id_of(conn, checked.programme)
        if checked.offers is not None:
            planned, left_out = _plan_offers(conn, ctx, pid, checked.offers, retire_missing, errors)
    columns: dict[int, offers_book.CheckedOffer] = {}
    for plan in planned:
        if plan.action != "unchanged":
            try:
                columns[plan.offer.index] = _checked_offer(ctx, plan, start)
            except InvalidInput as exc:
                errors.extend(_errors_of(exc))
    if errors:
        first = errors[0]
        raise InvalidInput(
            "PROGRAMME_INVALID",
            "the programme cannot work: {field}: {reason}",
            {"field": first["field"], "reason": first["message"], "errors": errors},
        )
    offer_changes = (
        None
        if checked.offers is None
        else [OfferChange(p.offer.spec.code, p.action) for p in planned] + left_out
    )
    result = DocumentResult(checked.programme, dry_run, effective_from, rule_changes, offer_changes)
    if dry_run or result.unchanged:
        return result
    written: dict[str, int] = {}
    ctx.invalidate()
    try:
        with ctx.engine.begin() as conn:
            if checked.rules is not None and rule_changes is not None:
                wanted = [
                    (f"rules[{i}].", spec)
                    for i, (spec, change) in enumerate(zip(checked.rules.specs, rule_changes, strict=False))
                    if change.action != "unchanged"
                ]
                retire = missing_rules if retire_missing else []
                versions = rules_book.write_rules(conn, ctx, pid, wanted, start, who, retire)
                written = {v.spec.code: v.version for v in versions}
            for plan in planned:
                if plan.action == "new":
                    offers_book.insert_offer(
                        conn, ctx, pid, columns[plan.offer.index], who, f"offers[{plan.offer.index}]."
                    )
                elif plan.action == "changed":
                    _change_offer(conn, ctx, plan, columns[plan.offer.index], who)
            for change in left_out:
                if change.action == "ended":
                    _end_offer(conn, ctx, pid, change.code, start, who)
    finally:
        ctx.invalidate()
    if rule_changes is not None:
        rule_changes = [
            RuleChange(c.code, c.action, written.get(c.code, c.version))
            if c.action in ("new", "changed")
            else c
            for c in rule_changes
        ]
    return DocumentResult(checked.programme, dry_run, effective_from, rule_changes, offer_changes)
