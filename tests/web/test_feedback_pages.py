"""Members' feedback in the web pages, on both backends: the console's feedback page (a store
manager sees their stores' ratings and marks a low one handled with a CSRF-checked form) and the
portal's history (a rating form beside a recent purchase, the rating shown once given, once only)."""

from __future__ import annotations

import itertools
import re

from loyalty.services import feedback
from loyalty.services import purchases as purchases_service
from loyalty.services.schemas import PurchaseIn, PurchaseLineIn
from tests.api.api_world import World
from tests.web.console_client import as_
from tests.web.test_portal import Portal, _member

_serial = itertools.count(1)


def _sale(world: World, store_id: int, member_id: int) -> int:
    return purchases_service.post_purchase(
        world.ctx,
        PurchaseIn(
            store_id=store_id,
            order_id=f"FBW-{next(_serial)}",
            occurred_at=world.ctx.now(),
            member_id=member_id,
            staff="C3",
            lines=[PurchaseLineIn(sku="SKU-1", quantity=1, unit_price_minor=5_000)],
        ),
    ).purchase_id


def test_a_store_manager_follows_up_a_low_rating_on_the_console(world: World) -> None:
    low = feedback.rate_purchase(
        world.ctx, world.member_a["id"], _sale(world, world.store_a, world.member_a["id"]), 1, "排队太久"
    )
    other = feedback.rate_purchase(
        world.ctx, world.member_b["id"], _sale(world, world.store_b, world.member_b["id"]), 2, "店里有点乱"
    )
    admin = as_(world.app, "admin1").get("/console/feedback?low=1")
    assert admin.status_code == 200
    assert f'id="feedback-{low.id}"' in admin.text
    assert f'id="feedback-{other.id}"' in admin.text
    console = as_(world.app, "store_manager1")
    page = console.get("/console/feedback?low=1&open=1")
    assert page.status_code == 200
    assert "排队太久" in page.text
    assert "1 of 5" in page.text
    assert f'id="feedback-{other.id}"' not in page.text  # store B's rating is not theirs
    assert f'id="handle-{low.id}"' in page.text
    refused = console.post("/console/feedback/handle", {"id": str(low.id)}, token=False)
    assert refused.status_code == 403  # no CSRF token: nothing handled
    assert feedback.get_feedback(world.ctx, low.id).handled_at is None
    stranger = console.post("/console/feedback/handle", {"id": str(other.id), "note": "x"})
    assert stranger.status_code == 303  # another store's: refused in the flash, as a missing one
    assert feedback.get_feedback(world.ctx, other.id).handled_at is None
    done = console.post("/console/feedback/handle", {"id": str(low.id), "note": "已致电致歉"})
    assert (done.status_code, done.headers["location"]) == (303, "/console/feedback")
    after = console.get("/console/feedback")
    assert f"Rating {low.id} is marked handled." in after.text
    assert re.search(rf'id="feedback-{low.id}".*?Handled .*?已致电致歉', after.text, re.S)
    handled = feedback.get_feedback(world.ctx, low.id)
    assert handled.handled_note == "已致电致歉"
    assert handled.handled_by is not None
    assert as_(world.app, "cashier1").get("/console/feedback").status_code == 403


def test_a_member_rates_a_recent_purchase_from_their_history(world: World) -> None:
    mine, other = _member(world, "Rater"), _member(world, "Other")
    sale = _sale(world, world.store_a, mine.id)
    theirs = _sale(world, world.store_a, other.id)
    portal = Portal(world)
    try:
        portal.sign_in(mine.phone)
        history = portal.get("/m/history").text
        assert f'action="/m/purchases/{sale}/rating"' in history
        assert f"/m/purchases/{theirs}/rating" not in history
        bad = portal.post(f"/m/purchases/{sale}/rating", {"rating": "9"})
        assert bad.status_code == 303
        assert "Choose from 1 to 5 stars." in portal.get("/m/history").text
        rated = portal.post(f"/m/purchases/{sale}/rating", {"rating": "4", "comment": "店员很热情"})
        assert (rated.status_code, rated.headers["location"]) == (303, "/m/history")
        after = portal.get("/m/history").text
        assert "Thank you for your rating." in after
        assert re.search(rf'id="rating-{sale}".*?4 of 5.*?店员很热情', after, re.S)
        assert f'action="/m/purchases/{sale}/rating"' not in after
        again = portal.post(f"/m/purchases/{sale}/rating", {"rating": "1"})
        assert again.status_code == 303
        assert f"purchase {sale} is already rated" in portal.get("/m/history").text
        portal.post(f"/m/purchases/{theirs}/rating", {"rating": "1"})  # not theirs: nothing written
        assert "has no purchase" in portal.get("/m/history").text
        no_token = portal.post(f"/m/purchases/{sale}/rating", {"rating": "5"}, token=False)
        assert no_token.status_code == 403
    finally:
        portal.close()
    assert feedback.member_ratings(world.ctx, mine.id, [sale])[sale].rating == 4
    assert feedback.member_ratings(world.ctx, other.id, [theirs]) == {}


def test_the_dashboard_shows_the_satisfaction_card(world: World) -> None:
    sale = _sale(world, world.store_a, world.member_a["id"])
    feedback.rate_purchase(world.ctx, world.member_a["id"], sale, 5)
    page = as_(world.app, "store_manager1").get(f"/console/dashboard?store={world.store_a}")
    assert page.status_code == 200
    found = re.search(
        r'id="kpi-satisfaction">\s*<dt>([^<]*)</dt>\s*<dd class="value">([^<]*)</dd>', page.text
    )
    assert found, page.text[:500]
    assert found.group(1) == "Satisfaction"
    assert re.fullmatch(r"[1-5]\.\d\d", found.group(2)), found.group(2)
    assert "CSAT" in page.text
