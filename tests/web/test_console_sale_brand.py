"""The cashier's sale form takes each line's brand, on both backends: shown in the quote, kept on the
line, and a brand longer than the field takes is refused beside it, nothing posted."""

from __future__ import annotations

import itertools

from sqlalchemy import text

from loyalty.services import members as members_service
from loyalty.services.schemas import MemberIn
from tests.api.api_world import World
from tests.web.console_client import as_

_serial = itertools.count(1)


def _form(world: World, order: str, brand: str) -> dict[str, str]:
    return {
        "store_id": str(world.store_a),
        "order_id": order,
        "sku_0": "BEANS",
        "category_0": "coffee",
        "brand_0": brand,
        "qty_0": "1",
        "price_0": "60.00",
        "sku_1": "MUG",
        "price_1": "20.00",
    }


def test_a_cashier_posts_each_lines_brand(world: World) -> None:
    tag = next(_serial)
    member = members_service.register_member(
        world.ctx, MemberIn(phone=f"+86137{tag:08d}", name="Brand", registration_store_id=world.store_a)
    ).id
    cashier = as_(world.app, "cashier1")
    path = f"/console/members/{member}/sales"
    page = cashier.get(f"/console/members/{member}").text
    assert 'name="brand_0"' in page
    refused = cashier.post(path, _form(world, f"BRF-{tag}", "B" * 65))
    assert refused.status_code == 422, refused.text
    assert 'id="sale-brand_0-error"' in refused.text  # the error beside the field
    quoted = cashier.post(f"{path}/quote", _form(world, f"BRD-{tag}", " 星巴克 "))
    assert quoted.status_code == 200, quoted.text
    assert "BEANS · coffee · 星巴克" in quoted.text
    posted = cashier.post(path, _form(world, f"BRD-{tag}", " 星巴克 "))
    assert posted.status_code == 303, posted.text
    with world.ctx.engine.connect() as conn:
        kept = conn.execute(
            text(
                "SELECT l.sku, l.brand FROM purchase_lines l JOIN purchases p ON p.id = l.purchase_id "
                "WHERE p.order_id IN (:a, :b) ORDER BY p.order_id, l.line_no"
            ),
            {"a": f"BRD-{tag}", "b": f"BRF-{tag}"},
        ).all()
    assert [tuple(r) for r in kept] == [("BEANS", "星巴克"), ("MUG", None)]
