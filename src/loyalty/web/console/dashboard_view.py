"""What the store manager's dashboard shows, made from a KPI report (`services.kpis`) in the page's
language: headline cards, the charts' data (JSON for `static/dashboard.js`) with a table saying the same
for whoever cannot see a chart, and the sleeping members with their contact masked as the API masks it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_skeleton

from loyalty.analytics.segments import BINARY_SEGMENTS
from loyalty.api.security import Principal, mask_phone
from loyalty.api.views import sees_pii
from loyalty.i18n import formats, translator
from loyalty.services.kpis import Bucket, KpiReport, StaffReport
from loyalty.web.console.charts import AMBER, BRAND, LIGHT, Chart

_ = translator("web")


@dataclass
class Card:
    """A headline figure: what it is, its value, and a line that explains it."""

    key: str
    label: str
    value: str
    note: str = ""


@dataclass
class Sleeper:
    member_id: int
    name: str
    phone: str
    last_purchase: str
    days: str
    purchases: str
    spend: str
    tier: str
    group: str


@dataclass
class StaffRow:
    """One staff code's figures as the dashboard's staff table shows them."""

    staff: str
    #: the row of what names nobody (shown in words, not as a code)
    unnamed: bool
    tickets: str
    net_sales: str
    member_share: str
    average_ticket: str
    new_members: str
    coupons_used: str
    points_redeemed: str
    #: the average rating of the sales they rang and of how many ratings ("4.50 (12)"; — without)
    rating: str = "—"


@dataclass
class DashboardView:
    cards: list[Card]
    charts: list[Chart]
    sleepers: list[Sleeper]
    sleeping_total: int
    sleeping_rule: str
    #: whether the list came from the stored RFM scores (it then shows each member's group)
    scored: bool
    #: the figures by staff code, most net sales first (empty: nobody sold or signed up)
    staff: list[StaffRow] = field(default_factory=list)


def _money(minor: int | None, currency: str, locale: str) -> str:
    return "—" if minor is None else formats.money(minor, currency, locale)


def _rate(value: Decimal | None, locale: str) -> str:
    return "—" if value is None else formats.percent(float(value), locale)


def _number(value: int, locale: str) -> str:
    return formats.number(value, locale)


def _major(minor: int, currency: str) -> str:
    """An amount as a decimal string in the currency's units, for a chart (never a float on the way)."""
    return str(formats.major(minor, currency))


def bucket_label(bucket: Bucket, period: str, locale: str) -> str:
    """A bucket as a chart's axis names it: a day ("3月27日"), a week by its days, a month ("2026年3月")."""
    where = locale.replace("-", "_")
    if period == "month":
        return format_skeleton("yMMM", bucket.start, locale=where)
    day = format_skeleton("MMMd", bucket.start, locale=where)
    if period == "week":
        return f"{day}–{format_skeleton('MMMd', bucket.end, locale=where)}"
    return day


def _spec(kind: str, report: KpiReport, locale: str, labels: list[str], **parts: Any) -> str:
    return json.dumps(
        {"kind": kind, "locale": locale, "currency": report.currency, "labels": labels, **parts},
        ensure_ascii=False,
        separators=(",", ":"),
    )


def cards(report: KpiReport, locale: str) -> list[Card]:
    s, cur = report.summary, report.currency

    def n(value: int) -> str:
        return _number(value, locale)

    return [
        Card(
            "members",
            _("Members"),
            n(s.members),
            _("{new} new, growth {rate}", new=n(s.new_members), rate=_rate(s.member_growth_rate, locale)),
        ),
        Card("new-members", _("New sign-ups"), n(s.new_members)),
        Card(
            "active-rate",
            _("Active rate"),
            _rate(s.active_rate, locale),
            _(
                "{active} of {members} bought in the last {days} days",
                active=n(s.active_members),
                members=n(s.members),
                days=report.active_days,
            ),
        ),
        Card(
            "repurchase-rate",
            _("Repurchase rate"),
            _rate(s.repurchase_rate, locale),
            _(
                "{repeat} of {buyers} buying members bought twice or more",
                repeat=n(s.repeat_buyers),
                buyers=n(s.buyers),
            ),
        ),
        Card(
            "net-sales",
            _("Net sales"),
            _money(s.net_sales_minor, cur, locale),
            _(
                "receipts {tickets}, refunded {refunds}",
                tickets=n(s.tickets),
                refunds=_money(s.refunds_minor, cur, locale),
            ),
        ),
        Card(
            "member-share",
            _("Member sales share"),
            _rate(s.member_sales_share, locale),
            _("members {amount}", amount=_money(s.member_net_sales_minor, cur, locale)),
        ),
        Card(
            "average-ticket",
            _("Average ticket"),
            _money(s.average_ticket_minor, cur, locale),
            _(
                "members {members}, others {others}",
                members=_money(s.member_average_ticket_minor, cur, locale),
                others=_money(s.other_average_ticket_minor, cur, locale),
            ),
        ),
        Card(
            "points-issued",
            _("Points issued"),
            n(s.points_issued),
            _("{points} taken back by returns", points=n(s.points_reversed)),
        ),
        Card(
            "points-redeemed",
            _("Points redeemed"),
            n(s.points_redeemed),
            _("redemption rate {rate}", rate=_rate(s.redemption_rate, locale)),
        ),
        Card("points-expired", _("Points expired"), n(s.points_expired)),
        satisfaction_card(report, locale),
    ]


def _rating(average: Decimal | None, ratings: int, locale: str) -> str:
    """An average rating with its count, as a table cell."""
    if average is None:
        return "—"
    return f"{formats.number(average, locale, 2)} ({_number(ratings, locale)})"


def satisfaction_card(report: KpiReport, locale: str) -> Card:
    """Members' satisfaction with the range's sales: the average rating, CSAT and response rate."""
    sat = report.summary.satisfaction
    average = "—" if sat.average_rating is None else formats.number(sat.average_rating, locale, 2)
    return Card(
        "satisfaction",
        _("Satisfaction"),
        average,
        _(
            "CSAT {csat} of {ratings} ratings, response rate {rate}",
            csat=_rate(sat.csat, locale),
            ratings=_number(sat.ratings, locale),
            rate=_rate(sat.response_rate, locale),
        ),
    )


def charts(report: KpiReport, locale: str) -> list[Chart]:
    cur = report.currency
    series = report.series
    labels = [bucket_label(b, report.period, locale) for b in series]

    def n(value: int) -> str:
        return _number(value, locale)

    sales = Chart(
        "sales",
        _("Net sales and member sales share"),
        _spec(
            "sales",
            report,
            locale,
            labels,
            bars=[
                {
                    "label": _("Members' net sales"),
                    "data": [_major(b.member_net_sales_minor, cur) for b in series],
                    "color": BRAND,
                },
                {
                    "label": _("Other net sales"),
                    "data": [_major(b.net_sales_minor - b.member_net_sales_minor, cur) for b in series],
                    "color": LIGHT,
                },
            ],
            line={
                "label": _("Member sales share"),
                "data": [
                    str(b.member_sales_share) if b.member_sales_share is not None else None for b in series
                ],
                "color": AMBER,
            },
            y=_("Net sales"),
            y2=_("Member sales share"),
        ),
        [
            _("Period"),
            _("Net sales"),
            _("Members' net sales"),
            _("Member sales share"),
            _("Receipts"),
            _("Average ticket"),
        ],
        [
            [
                label,
                _money(b.net_sales_minor, cur, locale),
                _money(b.member_net_sales_minor, cur, locale),
                _rate(b.member_sales_share, locale),
                n(b.tickets),
                _money(b.average_ticket_minor, cur, locale),
            ]
            for label, b in zip(labels, series, strict=True)
        ],
    )
    signups = Chart(
        "sign-ups",
        _("New sign-ups"),
        _spec(
            "bars",
            report,
            locale,
            labels,
            bars=[{"label": _("New sign-ups"), "data": [b.new_members for b in series], "color": BRAND}],
            y=_("Members"),
        ),
        [_("Period"), _("New sign-ups"), _("Members")],
        [[label, n(b.new_members), n(b.members)] for label, b in zip(labels, series, strict=True)],
    )
    points = Chart(
        "points",
        _("Points issued and redeemed"),
        _spec(
            "bars",
            report,
            locale,
            labels,
            bars=[
                {"label": _("Points issued"), "data": [b.points_issued for b in series], "color": BRAND},
                {"label": _("Points redeemed"), "data": [b.points_redeemed for b in series], "color": AMBER},
            ],
            y=_("Points"),
        ),
        [_("Period"), _("Points issued"), _("Points redeemed"), _("Points expired")],
        [
            [label, n(b.points_issued), n(b.points_redeemed), n(b.points_expired)]
            for label, b in zip(labels, series, strict=True)
        ],
    )
    return [sales, signups, points]


def sleepers(report: KpiReport, caller: Principal, locale: str) -> list[Sleeper]:
    """The sleeping members, their phone masked unless the caller may see it (as the API shows it)."""
    out = []
    for m in report.sleeping.members:
        segment = BINARY_SEGMENTS.get(m.rfm_code or "")
        at = m.last_purchase_at
        last: date | None = at.astimezone(ZoneInfo(report.timezone)).date() if at is not None else None
        out.append(
            Sleeper(
                member_id=m.member_id,
                name=m.name,
                phone=m.phone if sees_pii(caller, m.registration_store_id) else (mask_phone(m.phone) or ""),
                last_purchase=formats.day(last, locale) if last is not None else _("never"),
                days=_number(m.days_since_purchase, locale) if m.days_since_purchase is not None else "—",
                purchases=_number(m.purchases, locale),
                spend=_money(m.net_spend_minor, report.currency, locale),
                tier=m.tier_name,
                group=segment.name(locale) if segment is not None else "",
            )
        )
    return out


def staff_rows(report: StaffReport, locale: str) -> list[StaffRow]:
    """The KPIs by staff as the table shows them; what names nobody is "Not recorded"."""
    cur = report.currency
    return [
        StaffRow(
            staff=f.staff if f.staff is not None else _("Not recorded"),
            unnamed=f.staff is None,
            tickets=_number(f.tickets, locale),
            net_sales=_money(f.net_sales_minor, cur, locale),
            member_share=_rate(f.member_sales_share, locale),
            average_ticket=_money(f.average_ticket_minor, cur, locale),
            new_members=_number(f.new_members, locale),
            coupons_used=_number(f.coupons_used, locale),
            points_redeemed=_number(f.points_redeemed, locale),
            rating=_rating(f.satisfaction.average_rating, f.satisfaction.ratings, locale),
        )
        for f in report.staff
    ]


def dashboard_view(
    report: KpiReport, caller: Principal, locale: str, by_staff: StaffReport | None = None
) -> DashboardView:
    rule = (
        _(
            "The high-value RFM groups of the last analytics refresh, without a purchase in {days} days.",
            days=report.active_days,
        )
        if report.sleeping.rule == "scores"
        else _(
            "Members above the first tier (earned by spend), without a purchase in {days} days.",
            days=report.active_days,
        )
    )
    return DashboardView(
        cards=cards(report, locale),
        charts=charts(report, locale),
        sleepers=sleepers(report, caller, locale),
        sleeping_total=report.sleeping.total,
        sleeping_rule=rule,
        scored=report.sleeping.rule == "scores",
        staff=staff_rows(by_staff, locale) if by_staff is not None else [],
    )
