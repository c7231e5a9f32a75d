"""The default programme: one merchant, one store, tiers 普通/银卡/金卡/钻石 and the base earning rule.

Idempotent, so `make demo`, tests and a fresh production database can all call it safely.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import insert, select

from loyalty.bootstrap import Context
from loyalty.db.core_tables import merchants, programmes, stores, tiers
from loyalty.services.merchants import _create_merchant
from loyalty.services.schemas import MerchantIn

# code, name, rank, qualifying spend in the window (minor units), earning multiplier (%)
DEFAULT_TIERS = (
    ("normal", "普通", 0, 0, 100),
    ("silver", "银卡", 1, 200_000, 120),
    ("gold", "金卡", 2, 1_000_000, 150),
    ("diamond", "钻石", 3, 5_000_000, 200),
)


@dataclass(frozen=True)
class ProgrammeIds:
    programme_id: int
    merchant_id: int
    store_id: int


def ensure_programme(
    ctx: Context,
    *,
    points_per_unit: int = 1,
    excluded_categories: tuple[str, ...] = ("tobacco", "gift_card"),
    points_per_currency_unit: int = 100,
    redeem_cap_pct: int = 50,
    min_redeem_balance: int = 0,
    return_window_days: int = 7,
    expiry_days: int = 365,
    tier_window_days: int = 365,
    downgrade_policy: str = "one_step",
    downgrade_grace_days: int = 0,
    tier_ladder: tuple[tuple[str, str, int, int, int], ...] = DEFAULT_TIERS,
) -> ProgrammeIds:
    """Create the default programme, merchant 'DEFAULT', store 'S001' and tiers if absent.

    `tier_ladder` rows are (code, name, rank, qualifying spend threshold in minor units, multiplier %).
    """
    now = ctx.now()
    ctx.invalidate()
    with ctx.engine.begin() as conn:
        pid = conn.execute(select(programmes.c.id).where(programmes.c.code == "default")).scalar()
        if pid is None:
            pid = conn.execute(
                insert(programmes)
                .values(
                    code="default",
                    name="会员积分计划",
                    currency=ctx.settings.currency,
                    points_per_unit=points_per_unit,
                    excluded_categories=list(excluded_categories),
                    points_per_currency_unit=points_per_currency_unit,
                    redeem_cap_pct=redeem_cap_pct,
                    min_redeem_balance=min_redeem_balance,
                    return_window_days=return_window_days,
                    expiry_days=expiry_days,
                    tier_window_days=tier_window_days,
                    downgrade_policy=downgrade_policy,
                    downgrade_grace_days=downgrade_grace_days,
                    created_at=now,
                )
                .returning(programmes.c.id)
            ).scalar_one()
        if conn.execute(select(tiers.c.id).limit(1)).first() is None:
            conn.execute(
                insert(tiers),
                [
                    {
                        "code": c,
                        "name": n,
                        "rank": r,
                        "threshold_minor": t,
                        "multiplier_pct": m,
                        "programme_id": pid,
                    }
                    for c, n, r, t, m in tier_ladder
                ],
            )
        mid = conn.execute(select(merchants.c.id).where(merchants.c.code == "DEFAULT")).scalar()
        if mid is None:
            mid = _create_merchant(
                conn, MerchantIn(code="DEFAULT", name="默认商户", currency=ctx.settings.currency), now, pid
            )
        sid = conn.execute(select(stores.c.id).where(stores.c.code == "S001")).scalar()
        if sid is None:
            sid = conn.execute(
                insert(stores)
                .values(
                    merchant_id=mid,
                    code="S001",
                    name="总店",
                    city="上海",
                    timezone=ctx.settings.timezone,
                    created_at=now,
                )
                .returning(stores.c.id)
            ).scalar_one()
    return ProgrammeIds(programme_id=int(pid), merchant_id=int(mid), store_id=int(sid))
