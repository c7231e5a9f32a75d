"""The demo chain generator: reproducible, believable, and clean enough to import without rejects."""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from loyalty.demo.generator import ChainSpec, day_weights, generate
from loyalty.imports.mapping import Kind, resolve_mapping
from loyalty.imports.validate import Reference, validate

SPEC = ChainSpec(members=1500, months=13, seed=11, end=date(2025, 12, 1))


@pytest.fixture(scope="module")
def chain():  # type: ignore[no-untyped-def]
    return generate(SPEC)


def test_same_seed_same_chain_other_seed_other_chain(chain) -> None:  # type: ignore[no-untyped-def]
    again = generate(SPEC)
    assert again.purchases.equals(chain.purchases)
    assert again.members.equals(chain.members)
    other = generate(ChainSpec(members=1500, months=13, seed=12, end=date(2025, 12, 1)))
    assert not other.purchases.equals(chain.purchases)


def test_identifiers_are_unique(chain) -> None:  # type: ignore[no-untyped-def]
    members = chain.members
    assert pc.count_distinct(members.column("会员卡号")).as_py() == members.num_rows
    assert pc.count_distinct(members.column("手机号")).as_py() == members.num_rows
    assert pc.count_distinct(chain.returns.column("退货单号")).as_py() == chain.returns.num_rows


def test_calendar_effects() -> None:
    days = np.arange(np.datetime64("2024-01-01"), np.datetime64("2026-01-01"))
    w = day_weights(days)
    by_day = dict(zip(days.astype(str), w, strict=True))
    assert by_day["2025-11-11"] > 2.2 * np.median(w)  # Double 11
    assert by_day["2025-06-18"] > 1.8 * np.median(w)  # 618
    assert by_day["2025-01-30"] < 0.7 * np.median(w)  # Spring Festival lull
    assert by_day["2025-01-20"] > by_day["2025-03-03"]  # pre-festival shopping beats an ordinary Monday
    weekday = (days.view("int64") - 4) % 7
    assert w[weekday == 5].mean() > 1.2 * w[weekday == 1].mean()  # Saturdays beat Tuesdays


def test_orders_follow_the_calendar(chain) -> None:  # type: ignore[no-untyped-def]
    day = pc.utf8_slice_codeunits(chain.purchases.column("交易时间"), 0, 10)
    orders = (
        pa.table({"day": day, "order": chain.purchases.column("订单号")})
        .group_by("day")
        .aggregate([("order", "count_distinct")])
    )
    per_day = dict(
        zip(orders.column("day").to_pylist(), orders.column("order_count_distinct").to_pylist(), strict=True)
    )
    typical = float(np.median(list(per_day.values())))
    assert per_day["2025-11-11"] > 1.8 * typical


def test_generated_files_validate_without_rejects(chain) -> None:  # type: ignore[no-untyped-def]
    stores = [
        (code, i + 1, tz)
        for i, (code, tz) in enumerate(
            zip(
                chain.stores.column("code").to_pylist(),
                chain.stores.column("timezone").to_pylist(),
                strict=True,
            )
        )
    ]
    ref = Reference.empty(stores)
    members = chain.members.append_column("_line", pa.array(range(2, chain.members.num_rows + 2), pa.int64()))
    checked = validate(members, resolve_mapping(Kind.members, chain.members.column_names), ref)
    assert checked.rejected == 0
    assert checked.good.num_rows == SPEC.members
    cards = chain.members.column("会员卡号")
    ref.members = pa.table(
        {
            "id": pa.array(range(1, len(cards) + 1), pa.int64()),
            "card_no": cards,
            "phone": pa.array([None] * len(cards), pa.string()),
            "member_code": pa.array([None] * len(cards), pa.string()),
        }
    )
    lines = chain.purchases.append_column(
        "_line", pa.array(range(2, chain.purchases.num_rows + 2), pa.int64())
    )
    checked = validate(lines, resolve_mapping(Kind.purchases, chain.purchases.column_names), ref)
    assert checked.reasons() == {}
    assert checked.good.num_rows == chain.purchases.num_rows


def test_a_third_of_tickets_are_anonymous_and_every_channel_is_used(chain) -> None:  # type: ignore[no-untyped-def]
    """Walk-ins (no card in the file) make about 35 % of tickets, in store or by delivery; members buy
    mostly in store, some through the mini-program, online and by delivery."""
    orders = chain.purchases.group_by("订单号").aggregate(
        [("会员卡号", "count"), ("渠道", "min"), ("渠道", "max")]
    )
    assert orders.column("渠道_min").equals(orders.column("渠道_max"))  # one channel per ticket
    anonymous = pc.equal(orders.column("会员卡号_count"), 0)
    assert 0.32 < pc.mean(anonymous.cast(pa.int8())).as_py() < 0.38
    channels = orders.column("渠道_min")
    walk_ins = set(channels.filter(anonymous).to_pylist())
    members = channels.filter(pc.invert(anonymous)).value_counts().to_pylist()
    share = {m["values"]: m["counts"] / sum(x["counts"] for x in members) for m in members}
    assert walk_ins == {"门店", "外卖"}
    assert set(share) == {"门店", "线上", "小程序", "外卖"}
    assert share["门店"] > 0.6
    assert share["小程序"] > share["线上"]
