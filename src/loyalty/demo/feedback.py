"""The demo chain's members' ratings of their purchases, so the dashboard shows satisfaction and the
feedback page has low ratings to follow up.

About a third of the members' sales of the last `DAYS` days (not fully returned) are rated, a day or
so after the sale: mostly 4s and 5s, each store a little better or worse than the others (its "mood"),
one rating in five with a comment. Low ratings older than a week are handled by the store, with a note.
Deterministic: drawn from a generator seeded by the demo's seed. Written set-based (thousands of rows
at once, one audit row for the batch, as an import records its batches) rather than one service call
per rating: the rules the service checks hold by construction (the member's own sale, within the
window, not fully returned, once).
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from sqlalchemy import func, insert, select

from loyalty.bootstrap import Context
from loyalty.db.core_tables import purchases
from loyalty.db.feedback_tables import feedback
from loyalty.demo.rewards import DEMO_ACTOR
from loyalty.domain.feedback import LOW_RATING, RATING_WINDOW_DAYS
from loyalty.services import audit

#: the sales rated are those of the last this many days, about this share of them
DAYS = RATING_WINDOW_DAYS
SHARE = 0.35
#: how ratings 1 to 5 fall at an ordinary store (a store's mood moves weight between 2 and 5)
WEIGHTS = np.array([0.03, 0.05, 0.12, 0.35, 0.45])
COMMENTS = {
    1: ["排队太久，收银员态度不好", "商品有破损，很失望"],
    2: ["等了很久才结账", "店里有点乱，找不到商品"],
    3: ["一般般", "价格有点贵"],
    4: ["店员很热情", "商品新鲜，下次还来"],
    5: ["服务非常好！", "店员很耐心，推荐的商品很合适", "结账很快，体验很好"],
}
HANDLED_NOTE = "已致电会员致歉，并赠送优惠券"


def rate_recent_sales(ctx: Context, seed: int = 42) -> dict[str, int]:
    """Ratings for a share of the recent members' sales (none when some are stored already); how many
    were written and how many of them handled."""
    now = ctx.now()
    with ctx.engine.begin() as conn:
        if conn.execute(select(func.count()).select_from(feedback)).scalar_one():
            return {"ratings": 0, "handled": 0}
        rows = conn.execute(
            select(
                purchases.c.id,
                purchases.c.member_id,
                purchases.c.store_id,
                purchases.c.staff,
                purchases.c.occurred_at,
            )
            .where(
                purchases.c.member_id.is_not(None),
                purchases.c.occurred_at >= now - timedelta(days=DAYS),
                purchases.c.occurred_at < now - timedelta(hours=2),
                purchases.c.refunded_minor < purchases.c.total_minor,
            )
            .order_by(purchases.c.id)
        ).all()
        if not rows:
            return {"ratings": 0, "handled": 0}
        rng = np.random.default_rng([seed, 29])
        stores = sorted({r.store_id for r in rows})
        mood = dict(zip(stores, rng.normal(0.0, 0.08, len(stores)).tolist(), strict=True))
        chosen = rng.random(len(rows)) < SHARE
        draws = rng.random(len(rows))
        delays = rng.uniform(1.0, 48.0, len(rows))
        commented = rng.random(len(rows)) < 0.2
        picks = rng.integers(0, 3, len(rows))
        values = []
        handled = 0
        for i, r in enumerate(rows):
            if not chosen[i]:
                continue
            shift = mood[r.store_id]
            weights = WEIGHTS + np.array([0.0, -shift / 2, 0.0, 0.0, shift])
            weights = np.clip(weights, 0.005, None)
            cumulative = np.cumsum(weights / weights.sum())
            rating = int(np.searchsorted(cumulative, draws[i]) + 1)
            rating = min(max(rating, 1), 5)
            at = min(r.occurred_at + timedelta(hours=float(delays[i])), now)
            texts = COMMENTS[rating]
            done = rating <= LOW_RATING and now - at > timedelta(days=7)
            handled += done
            values.append(
                {
                    "purchase_id": r.id,
                    "member_id": r.member_id,
                    "store_id": r.store_id,
                    "staff": r.staff,
                    "sold_at": r.occurred_at,
                    "rating": rating,
                    "comment": texts[int(picks[i]) % len(texts)]
                    if commented[i] or rating <= LOW_RATING
                    else None,
                    "created_at": at,
                    "handled_at": at + timedelta(days=1) if done else None,
                    "handled_by": f"{DEMO_ACTOR.kind}:{DEMO_ACTOR.id}" if done else None,
                    "handled_note": HANDLED_NOTE if done else None,
                }
            )
        if values:
            conn.execute(insert(feedback), values)
            counts = {"ratings": len(values), "handled": handled}
            audit.record(conn, DEMO_ACTOR, "feedback.demo", "feedback", "demo", None, counts, at=now)
    return {"ratings": len(values), "handled": handled}
