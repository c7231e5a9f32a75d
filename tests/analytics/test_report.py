"""The HTML report: self-contained, money with its currency, both languages, and the right numbers.

A small hand-made chain pins the figures an analyst acts on (revenue at risk, one-time buyers, the
win-back list); CDNOW checks the published model and the one-time-buyer evidence; a product database
with anonymous sales checks the member sales share and the channel table.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from loyalty.analytics.report import ReportOptions, build_report
from loyalty.cli import app

NOW = dt.datetime(2026, 1, 10, tzinfo=dt.UTC)


def _text(html: str) -> str:
    """The visible text: no tags, no style block, whitespace collapsed."""
    body = re.sub(r"<style>.*?</style>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


def _small_chain() -> pd.DataFrame:
    """Amounts in fen. Eight weekly regulars (¥20), two weekly big spenders (¥150) and three ¥300
    weekly customers who stopped after 20 weeks: those three are the ones at risk, each with
    20 × ¥300 = ¥6,000 in their first (and only) year. Six customers bought once."""
    start = pd.Timestamp("2025-01-06")
    rows: list[tuple[str, pd.Timestamp, int]] = []
    for i in range(8):
        rows += [(f"reg{i}", start + pd.Timedelta(days=7 * w + i % 3), 2000) for w in range(52)]
    for i in range(2):
        rows += [(f"big{i}", start + pd.Timedelta(days=7 * w), 15000) for w in range(52)]
    for i in range(3):
        rows += [(f"lapsed{i}", start + pd.Timedelta(days=7 * w), 30000) for w in range(20)]
    rows += [(f"once{i}", start + pd.Timedelta(days=30 * i), 5000) for i in range(6)]
    rows.append(("reg0", start + pd.Timedelta(days=363), 2000))
    return pd.DataFrame(rows, columns=["customer_id", "date", "amount"])


@pytest.fixture(scope="module")
def small_en() -> str:
    opts = ReportOptions(currency="CNY", amounts_in_minor=True, locale="en", top_n=5)
    return build_report(_small_chain(), options=opts, now=NOW)


def test_revenue_at_risk_and_win_back_list_by_hand(small_en: str) -> None:
    text = _text(small_en)
    assert "Revenue at risk" in text
    assert "CN¥18,000.00 a year · 3 valuable customers probably lost" in text
    assert (
        "have a P(alive) below 50%. In an average year of their time with us they spent CN¥18,000.00" in text
    )
    listed = re.findall(r"<td class=\"text mono\">([a-z]+\d)</td>", small_en)
    assert sorted(listed) == ["lapsed0", "lapsed1", "lapsed2"]  # the active big spenders are not at risk
    assert "CN¥6,000.00" in text  # each one's yearly (and total) spend


def test_one_time_buyers_counted_apart_and_explained(small_en: str) -> None:
    text = _text(small_en)
    assert (
        "6 customers (31.6%) have bought on one day only. BG/NBD gives every one of them P(alive) = 100%"
        in text
    )
    assert "P(alive) of the 13 customers with at least one repeat purchase" in text


def test_money_has_its_currency_and_no_bare_minor_units(small_en: str) -> None:
    text = _text(small_en)
    total_fen = 8 * 52 * 2000 + 2000 + 2 * 52 * 15000 + 3 * 20 * 30000 + 6 * 5000
    assert f"CN¥{total_fen / 100:,.2f}" in text  # CN¥258,200.00 total spend
    assert str(total_fen) not in text
    assert f"{total_fen:,}" not in text
    assert "amounts in CNY" in text
    assert "CLV: next 12 months, discounted 1.0% a month (CNY)" in small_en  # the CLV axis


def test_report_is_offline_and_its_charts_keep_text_as_text(small_en: str) -> None:
    assert small_en.count("<svg ") == 4  # P(alive), CLV, holdout, tracking
    assert "data:image" not in small_en
    assert "<img" not in small_en
    assert not re.search(r"<(script|link|iframe)\b", small_en)
    assert not re.search(r"(src|href)=\"?https?://", small_en)
    assert "<text" in small_en  # labels are SVG text (svg.fonttype none) …
    assert "DejaVuSans-" not in small_en  # … not glyph outlines of a font embedded in the page
    assert re.search(r"<text[^>]*>customers</text>", small_en)


def test_report_in_chinese_and_in_english(locale) -> None:  # type: ignore[no-untyped-def]
    tx = _small_chain()
    zh = _text(build_report(tx, options=ReportOptions(currency="CNY", amounts_in_minor=True, locale="zh-CN")))
    for heading in ("会员分析报告", "关键指标", "流失风险收入", "客户分群：规模、价值与行动建议", "模型参数"):
        assert heading in zh
    assert "¥18,000.00" in zh
    assert "CN¥" not in zh
    assert "重要价值客户" in zh
    assert "High value" not in zh
    assert "Key figures" not in zh
    assert "Revenue at risk" not in zh
    assert "2025年1月6日" in zh  # dates per locale
    # LOYALTY_LOCALE decides when no locale is given
    locale("zh-CN")
    assert "关键指标" in build_report(tx, options=ReportOptions(currency="CNY", amounts_in_minor=True))
    en = _text(build_report(tx, options=ReportOptions(currency="CNY", amounts_in_minor=True, locale="en")))
    assert "Key figures" in en
    assert "关键指标" not in en
    assert "重要价值客户" not in en
    assert "Jan 6, 2025" in en


def test_cdnow_report_from_file(cdnow_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    res = CliRunner().invoke(
        app,
        [
            "analytics",
            "report",
            "-o",
            str(out),
            "--input",
            str(cdnow_path),
            "--calibration-end",
            "1997-09-30",
            "--currency",
            "USD",
            "--locale",
            "en",
        ],
    )
    assert res.exit_code == 0, res.output
    html = out.read_text(encoding="utf-8")
    text = _text(html)
    # BG/NBD fitted to the calibration end: the published estimates, with standard errors, and Gamma-Gamma's
    row = re.search(r"<td class=\"text\">r</td>(.*?)</tr>", html, flags=re.S)
    assert row is not None
    assert re.findall(r">([\d.,]+)<", row.group(1))[2] == "0.2426"  # published 0.243
    gg = re.search(r"<td class=\"text\">p</td>(.*?)</tr>", html, flags=re.S)
    assert gg is not None
    assert re.findall(r">([\d.,]+)<", gg.group(1))[2] == "6.2496"
    assert "Gamma-Gamma (spend per purchase)" in text
    assert "Standard error" in text
    # one-time buyers: BG/NBD's P(alive) = 1 explained, with what such customers actually did
    assert "of the 1,411 customers who had bought only once by Sep 30, 1997, 193 (13.7%) bought again" in text
    assert "The histogram stops at the 99th percentile ($360.43): the 24 customers above it" in text
    assert "$149,265.28" in text  # the high-value segment's spend, in dollars
    assert "quintiles" in text
    assert "binary scheme" in text


@pytest.fixture
def chain_with_anonymous_sales(engine: Engine) -> Engine:
    """Members' store purchases over half a year, plus anonymous online and delivery sales."""
    import numpy as np

    from loyalty.bootstrap import Context, FrozenClock
    from loyalty.services import members, purchases, seed
    from loyalty.services.schemas import MemberIn, PurchaseIn, PurchaseLineIn

    start = dt.datetime(2025, 1, 1, 10, tzinfo=dt.UTC)
    ctx = Context(engine=engine, clock=FrozenClock(start))
    ids = seed.ensure_programme(ctx)
    rng = np.random.default_rng(11)
    for i in range(12):
        m = members.register_member(ctx, MemberIn(phone=f"+8613900139{i:03d}", name=f"M{i}"))
        for k in range(int(rng.integers(2, 6))):
            purchases.post_purchase(
                ctx,
                PurchaseIn(
                    store_id=ids.store_id,
                    order_id=f"m{i}-{k}",
                    occurred_at=start + dt.timedelta(days=int(rng.integers(0, 180))),
                    lines=[PurchaseLineIn(sku="A", quantity=1, unit_price_minor=10000)],
                    member_id=m.id,
                ),
            )
    for k, channel in enumerate(["online", "online", "delivery"]):
        purchases.post_purchase(
            ctx,
            PurchaseIn(
                store_id=ids.store_id,
                order_id=f"anon-{k}",
                occurred_at=start + dt.timedelta(days=10 + k),
                lines=[PurchaseLineIn(sku="A", quantity=1, unit_price_minor=50000)],
                channel=channel,
            ),
        )
    return engine


def test_report_from_the_database_counts_anonymous_sales(chain_with_anonymous_sales: Engine) -> None:
    from loyalty.analytics.report import DatabaseFacts
    from loyalty.analytics.store import load_transactions, member_cards, sales_by_channel

    eng = chain_with_anonymous_sales
    tx = load_transactions(eng)
    member_fen = int(tx["amount"].sum())
    sales = sales_by_channel(eng)
    assert int(sales.loc[~sales["is_member"], "net_minor"].sum()) == 150000  # ¥1,500.00 anonymous
    facts = DatabaseFacts(sales=sales, cards=lambda ids: member_cards(eng, ids))
    html = build_report(
        tx, options=ReportOptions(currency="CNY", amounts_in_minor=True, locale="en"), facts=facts, now=NOW
    )
    text = _text(html)
    share = member_fen / (member_fen + 150000)
    assert f"{share:.1%}" in text  # member sales ÷ all sales
    assert f"member sales CN¥{member_fen / 100:,.2f} ÷ all sales" in text
    assert "CN¥1,500.00 · 3 orders without a member" in text
    assert re.search(
        r"Online shop</td>\s*<td class=\"num\">2</td>\s*<td class=\"num\">CN¥1,000.00</td>", html
    )
    assert re.search(r"Delivery</td>\s*<td class=\"num\">1</td>\s*<td class=\"num\">CN¥500.00</td>", html)
    assert "Customers who bought 12 " in text  # the member models see members only
