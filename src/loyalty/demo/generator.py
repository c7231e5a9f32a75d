"""Seeded, vectorised generator of a believable Chinese retail chain's history.

Everything is drawn with NumPy on whole arrays (no Python loop per member or per purchase), so the same
code gives a 20,000-member demo in about a second and a 1,000,000-member / 10,000,000-line benchmark set
in well under a minute. The output is plain POS-style files (Chinese headers, local store times) that go
through `loyalty import` exactly as a real chain's exports would, so the demo exercises the real path.

Behaviour modelled: store cities with their time zones; registration growth; birthdays and marketing
consent; loyal / regular / occasional / churning members; day weights for weekdays, the Spring Festival
run-up and holiday lull, 618, Double 11 and Double 12, a monthly member day (the 8th); birthday treats;
basket sizes with category affinities (coffee with bakery, tea with desserts, …); returns within two
weeks; and opening point balances for members migrated from an older system. About a third of the
tickets are anonymous (walk-in customers who show no card: smaller baskets, no card number in the file,
imported as anonymous sales), and every ticket has its channel: members buy mostly in store, some
through the mini-program, online or by delivery; walk-ins in store or by delivery. Each store has a
few cashiers (`SH01-C1` …): every ticket names the one who rang it and every member the one who
signed them up at their home store, for the KPIs by staff.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

STORES: tuple[tuple[str, str, str, str, float], ...] = (
    # code, name, city, timezone, share of members
    ("SH01", "上海静安店", "上海", "Asia/Shanghai", 0.20),
    ("SH02", "上海徐汇店", "上海", "Asia/Shanghai", 0.15),
    ("BJ01", "北京朝阳店", "北京", "Asia/Shanghai", 0.16),
    ("HZ01", "杭州西湖店", "杭州", "Asia/Shanghai", 0.12),
    ("CD01", "成都春熙路店", "成都", "Asia/Shanghai", 0.11),
    ("GZ01", "广州天河店", "广州", "Asia/Shanghai", 0.10),
    ("SZ01", "深圳南山店", "深圳", "Asia/Shanghai", 0.10),
    ("UR01", "乌鲁木齐大巴扎店", "乌鲁木齐", "Asia/Urumqi", 0.06),
)

# category, base names, price range in yuan, popularity, affinity category
CATEGORIES: tuple[tuple[str, tuple[str, ...], tuple[int, int], float, str], ...] = (
    ("咖啡", ("拿铁", "美式", "澳白", "摩卡", "冷萃"), (22, 38), 0.20, "烘焙"),
    ("茶饮", ("乌龙奶茶", "茉莉绿茶", "柠檬红茶", "芝士奶盖", "桂花拿铁"), (15, 28), 0.15, "甜点"),
    ("烘焙", ("可颂", "肉松面包", "全麦吐司", "菠萝包", "蛋挞"), (8, 25), 0.14, "咖啡"),
    ("甜点", ("提拉米苏", "芒果千层", "巴斯克", "泡芙", "马卡龙"), (18, 45), 0.08, "茶饮"),
    ("轻食", ("鸡胸沙拉", "三明治", "牛油果卷", "意面", "饭团"), (18, 48), 0.09, "饮料"),
    ("零食", ("坚果", "牛肉干", "海苔", "薯片", "果干"), (6, 35), 0.09, "饮料"),
    ("乳制品", ("鲜牛奶", "酸奶", "奶酪棒", "燕麦奶", "希腊酸奶"), (6, 22), 0.07, "烘焙"),
    ("饮料", ("矿泉水", "气泡水", "椰子水", "果汁", "电解质水"), (3, 12), 0.07, "零食"),
    ("个护", ("洗手液", "护手霜", "湿巾", "唇膏", "面膜"), (12, 99), 0.04, "家居"),
    ("家居", ("马克杯", "香薰", "收纳盒", "餐垫", "保温杯"), (25, 199), 0.03, "个护"),
    ("文具", ("笔记本", "中性笔", "便签", "书签", "手账"), (5, 45), 0.02, "零食"),
    ("礼盒", ("咖啡礼盒", "茶礼盒", "月饼礼盒", "坚果礼盒", "年货礼盒"), (99, 399), 0.02, "零食"),
)
VARIANTS = ("", "(大)", "(小)", "·经典", "·限定")

SURNAMES = tuple(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
)
GIVEN = tuple(
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏飞婷雪琳晨宇欣怡子涵浩然佳梓轩思雨嘉"
)
MOBILE_PREFIXES = (
    130,
    131,
    132,
    133,
    135,
    136,
    137,
    138,
    139,
    150,
    151,
    152,
    153,
    155,
    156,
    157,
    158,
    159,
    166,
    176,
    177,
    180,
    181,
    182,
    183,
    185,
    186,
    187,
    188,
    189,
    198,
    199,
)

# Lunar new year's day, for the Spring Festival run-up and lull.
SPRING_FESTIVAL = (
    date(2022, 2, 1),
    date(2023, 1, 22),
    date(2024, 2, 10),
    date(2025, 1, 29),
    date(2026, 2, 17),
    date(2027, 2, 6),
    date(2028, 1, 26),
    date(2029, 2, 13),
    date(2030, 2, 3),
)

# Channels as the POS export names them (`domain.channels`: store, online, mini_program, delivery), and
# how members' and walk-ins' tickets spread over them.
CHANNEL_NAMES = ("门店", "线上", "小程序", "外卖")
MEMBER_CHANNEL_SHARE = np.array([0.74, 0.05, 0.16, 0.05])
ANONYMOUS_CHANNEL_SHARE = np.array([0.86, 0.0, 0.0, 0.14])

SEGMENTS = ("loyal", "regular", "occasional", "churning")
SEGMENT_SHARE = np.array([0.15, 0.35, 0.35, 0.15])
# Purchases per active month, before day weights.
SEGMENT_RATE = np.array([3.0, 1.0, 0.35, 1.6])

PURCHASE_HEADERS = (
    "订单号", "门店", "交易时间", "会员卡号", "商品编码", "品类", "数量", "单价", "渠道", "收银员",
)  # fmt: skip
MEMBER_HEADERS = (
    "会员卡号", "手机号", "姓名", "性别", "生日", "注册时间", "营销同意", "注册门店", "开卡员工",
)  # fmt: skip
# Each store's cashiers (`SH01-C1` …), the first on the most shifts: who rang each ticket and signed
# each member up at their home store (the KPIs by staff). Drawn from a generator of their own, so the
# rest of the chain is the same draw as before they were.
CASHIER_SHARE = np.array([0.34, 0.28, 0.22, 0.16])
CASHIERS = np.array([f"-C{i + 1}" for i in range(len(CASHIER_SHARE))])
RETURN_HEADERS = ("退货单号", "原订单号", "门店", "交易时间", "退款金额")
BALANCE_HEADERS = ("会员卡号", "积分", "获得时间", "过期时间")


@dataclass(frozen=True)
class ChainSpec:
    """Size and shape of the generated chain. Same spec and seed -> byte-identical files."""

    members: int = 20_000
    months: int = 18
    seed: int = 7
    end: date = date(2026, 11, 1)
    intensity: float = 1.0
    return_rate: float = 0.025
    opening_balance_share: float = 0.5
    anonymous_share: float = 0.35  # of all tickets: walk-ins who show no member card


@dataclass
class ChainData:
    """The generated tables (Arrow), ready to be written as import files."""

    spec: ChainSpec
    stores: pa.Table
    products: pa.Table
    members: pa.Table
    purchases: pa.Table  # one row per purchase line
    returns: pa.Table
    balances: pa.Table
    segments: np.ndarray

    @property
    def orders(self) -> int:
        return (
            int(pc.count_distinct(self.purchases.column("订单号")).as_py()) if self.purchases.num_rows else 0
        )


def _days(start: date, end: date) -> np.ndarray:
    return np.arange(np.datetime64(start, "D"), np.datetime64(end, "D"))


def day_weights(days: np.ndarray) -> np.ndarray:
    """Relative shopping intensity of each calendar day (mean ≈ 1)."""
    weekday = (days.astype("datetime64[D]").view("int64") - 4) % 7  # 0 = Monday (1970-01-01 was a Thursday)
    w = np.array([0.85, 0.85, 0.9, 0.95, 1.1, 1.4, 1.3])[weekday]
    months = days.astype("datetime64[M]").astype(int) % 12 + 1
    dom = (days - days.astype("datetime64[M]")).astype(int) + 1
    w = w * np.where(dom == 8, 1.8, 1.0)  # member day
    w = w * np.where((months == 6) & (dom >= 1) & (dom <= 18), 1.25, 1.0)
    w = w * np.where((months == 6) & (dom >= 16) & (dom <= 18), 1.8, 1.0)
    w = w * np.where((months == 11) & (dom <= 11), 1.25, 1.0)
    w = w * np.where((months == 11) & (dom >= 10) & (dom <= 11), 2.4, 1.0)
    w = w * np.where((months == 12) & (dom == 12), 1.6, 1.0)
    w = w * np.where((months == 12) & (dom >= 20) & (dom <= 25), 1.2, 1.0)  # Christmas
    for lny in SPRING_FESTIVAL:
        d0 = np.datetime64(lny, "D")
        offset = (days - d0).astype(int)
        w = w * np.where((offset >= -21) & (offset < 0), 1.6, 1.0)
        w = w * np.where((offset >= 0) & (offset <= 6), 0.45, 1.0)
    normalised: np.ndarray = w / w.mean()
    return normalised


def _strs(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(values), pa.string())


def luhn_cards(numbers: np.ndarray) -> pa.Array:
    """16-digit card numbers `88` + 13 digits + Luhn check digit, as the core's card lookup requires."""
    body = np.zeros((len(numbers), 15), dtype=np.int64)
    body[:, 0] = body[:, 1] = 8
    rest = numbers.astype(np.int64).copy()
    for pos in range(14, 1, -1):
        body[:, pos] = rest % 10
        rest //= 10
    # Luhn: double every second digit from the right of the body (the check digit will be rightmost).
    weights = np.array([2 if (14 - i) % 2 == 0 else 1 for i in range(15)])
    doubled = body * weights
    doubled = np.where(doubled > 9, doubled - 9, doubled)
    check = (10 - doubled.sum(axis=1) % 10) % 10
    text = pc.binary_join_element_wise(pa.array(np.full(len(numbers), "88")), _pad(numbers % 10**13, 13), "")
    return pc.binary_join_element_wise(text, _strs(check), "")


def _pick(labels: np.ndarray, index: np.ndarray) -> pa.Array:
    """`labels[index]` as an Arrow string array, without materialising NumPy unicode strings."""
    return pa.array(labels.tolist(), pa.string()).take(pa.array(index))


def _pad(values: np.ndarray, width: int) -> pa.Array:
    return pc.utf8_lpad(_strs(values), width=width, padding="0")


def _local_text(seconds: np.ndarray) -> pa.Array:
    """Format local wall-clock seconds since the epoch as 'YYYY-MM-DD HH:MM:SS' (vectorised)."""
    # A cast is ~20x faster than strftime and gives the same ISO text with a space separator.
    return pc.cast(pa.array(seconds.astype("int64"), pa.timestamp("s")), pa.string())


def _money(minor: np.ndarray) -> pa.Array:
    """Minor units -> '12.50' text without floats."""
    yuan = _strs(minor // 100)
    fen = _pad(minor % 100, 2)
    return pc.binary_join_element_wise(yuan, fen, ".")


def history_start(spec: ChainSpec) -> date:
    """The first day of the purchase history: the first of the month `spec.months` before its end."""
    end = np.datetime64(spec.end, "D")
    first: date = (end.astype("datetime64[M]") - spec.months).astype("datetime64[D]").astype(date)
    return first


def generate(spec: ChainSpec | None = None) -> ChainData:
    """Draw the whole chain for `spec`."""
    spec = spec or ChainSpec()
    rng = np.random.default_rng(spec.seed)
    n = spec.members
    end = np.datetime64(spec.end, "D")
    start = np.datetime64(history_start(spec), "D")
    days = np.arange(start, end)
    n_days = len(days)
    weights = day_weights(days)
    cum = np.concatenate([[0.0], np.cumsum(weights)])

    # --- stores and products ---------------------------------------------------------------------
    store_codes = np.array([s[0] for s in STORES])
    store_share = np.array([s[4] for s in STORES])
    store_share = store_share / store_share.sum()
    stores = pa.table(
        {
            "code": [s[0] for s in STORES],
            "name": [s[1] for s in STORES],
            "city": [s[2] for s in STORES],
            "timezone": [s[3] for s in STORES],
        }
    )
    skus, names, cats, prices, cat_of = [], [], [], [], []
    for ci, (cat, bases, (lo, hi), _pop, _aff) in enumerate(CATEGORIES):
        for bi, base in enumerate(bases):
            for vi, variant in enumerate(VARIANTS):
                skus.append(f"P{ci + 1:02d}{bi + 1}{vi + 1}{(ci * 7 + bi * 3 + vi) % 10}")
                names.append(base + variant)
                cats.append(cat)
                price_yuan = lo + (hi - lo) * rng.random()
                prices.append(round(price_yuan * 10) * 10)  # whole 0.1 yuan
                cat_of.append(ci)
    products = pa.table(
        {"sku": skus, "name": names, "category": cats, "price_minor": pa.array(prices, pa.int64())}
    )
    sku_arr = np.array(skus)
    price_arr = np.array(prices, dtype=np.int64)
    cat_names = np.array([c[0] for c in CATEGORIES])
    cat_pop = np.array([c[3] for c in CATEGORIES])
    cat_pop = cat_pop / cat_pop.sum()
    affinity = np.array([[c[0] for c in CATEGORIES].index(c[4]) for c in CATEGORIES])
    per_cat = len(CATEGORIES[0][1]) * len(VARIANTS)
    zipf = 1.0 / np.arange(1, per_cat + 1) ** 0.8
    zipf = zipf / zipf.sum()

    # --- members -----------------------------------------------------------------------------------
    legacy = rng.random(n) < 0.3
    window_reg = start + (n_days * np.sqrt(rng.random(n)) * 0.97).astype(int)  # growing sign-ups
    legacy_reg = start - rng.integers(1, 3 * 365, n)
    reg_day = np.where(legacy, legacy_reg, window_reg)
    reg_seconds = reg_day.astype("datetime64[s]").astype(np.int64) + rng.integers(9 * 3600, 21 * 3600, n)
    age_years = np.clip(rng.normal(33, 10, n), 18, 72)
    birthday = (end - (age_years * 365.25).astype(int)).astype("datetime64[D]")
    gender = np.where(rng.random(n) < 0.62, "女", "男")
    consent = np.where(rng.random(n) < 0.66, "是", "否")
    home = rng.choice(len(STORES), n, p=store_share)
    # Unique mobiles: an affine bijection on 0..1e8 keeps the 8 trailing digits distinct per prefix.
    prefixes = np.array(MOBILE_PREFIXES)[rng.integers(0, len(MOBILE_PREFIXES), n)]
    tail = (np.arange(n, dtype=np.int64) * 7_919_333 + int(rng.integers(0, 10**8))) % 10**8
    phone = pc.binary_join_element_wise(_strs(prefixes), _pad(tail, 8), "")
    card = luhn_cards(rng.permutation(n) + 1 + int(rng.integers(0, 10**9)))
    surname = np.array(SURNAMES)[rng.integers(0, len(SURNAMES), n)]
    given1 = np.array(GIVEN)[rng.integers(0, len(GIVEN), n)]
    given2 = np.where(rng.random(n) < 0.7, np.array(GIVEN)[rng.integers(0, len(GIVEN), n)], "")
    name = np.char.add(np.char.add(surname, given1), given2)
    segment = rng.choice(len(SEGMENTS), n, p=SEGMENT_SHARE)
    staff_rng = np.random.default_rng([spec.seed, 26])
    signed_up_by = pc.binary_join_element_wise(
        _pick(store_codes, home), _pick(CASHIERS, staff_rng.choice(len(CASHIERS), n, p=CASHIER_SHARE)), ""
    )
    members = pa.table(
        dict(
            zip(
                MEMBER_HEADERS,
                [
                    card,
                    phone,
                    pa.array(name),
                    pa.array(gender),
                    pc.cast(
                        pa.array(birthday.astype("datetime64[D]").astype(np.int32), pa.date32()), pa.string()
                    ),
                    _local_text(reg_seconds),
                    pa.array(consent),
                    _pick(store_codes, home),
                    signed_up_by,
                ],
                strict=True,
            )
        )
    )

    # --- purchases ---------------------------------------------------------------------------------
    first = np.clip((reg_day - start).astype(int), 0, n_days - 1)
    last = np.full(n, n_days - 1)
    churning = segment == 3
    churn_at = first + (rng.random(n) * (n_days - first)).astype(int)
    last = np.where(churning, np.maximum(churn_at, first), last)
    span_weight = cum[last + 1] - cum[first]
    rate = SEGMENT_RATE[segment] * rng.lognormal(0, 0.35, n) * spec.intensity
    expected = rate * span_weight / 30.4
    counts = rng.poisson(expected)
    owner = np.repeat(np.arange(n), counts)
    u = cum[first[owner]] + rng.random(len(owner)) * span_weight[owner]
    day_idx = np.clip(np.searchsorted(cum, u, side="right") - 1, 0, n_days - 1)

    # Birthday treats: a share of consenting members come in during their birthday week.
    bday_doy = (birthday - birthday.astype("datetime64[Y]")).astype(int)
    years = np.unique(days.astype("datetime64[Y]"))
    extra_owner, extra_day = [], []
    for y in years:
        bd = (y.astype("datetime64[D]") + bday_doy - start).astype(int) + rng.integers(0, 7, n)
        ok = (bd >= first) & (bd <= last) & (consent == "是") & (rng.random(n) < 0.4)
        extra_owner.append(np.nonzero(ok)[0])
        extra_day.append(bd[ok])
    owner = np.concatenate([owner, *extra_owner])
    day_idx = np.concatenate([day_idx, *extra_day])
    # Walk-ins who show no card (owner -1): anonymous tickets, by the same calendar, on top of the
    # members' so that they make `anonymous_share` of all tickets.
    share = min(max(spec.anonymous_share, 0.0), 0.95)
    n_anon = round(len(owner) * share / (1 - share))
    anon_day = np.clip(np.searchsorted(cum, rng.random(n_anon) * cum[-1], side="right") - 1, 0, n_days - 1)
    owner = np.concatenate([owner, np.full(n_anon, -1)])
    day_idx = np.concatenate([day_idx, anon_day])
    n_orders = len(owner)

    hour_p = np.array([0, 0, 0, 0, 0, 0, 0, 2, 6, 6, 5, 6, 9, 8, 5, 5, 6, 7, 9, 8, 6, 4, 2, 0], dtype=float)
    hours = rng.choice(24, n_orders, p=hour_p / hour_p.sum())
    local_seconds = (
        (start + day_idx).astype("datetime64[s]").astype(np.int64)
        + hours * 3600
        + rng.integers(0, 3600, n_orders)
    )
    order_sort = np.lexsort((owner, local_seconds))
    owner, local_seconds, day_idx = owner[order_sort], local_seconds[order_sort], day_idx[order_sort]
    walk_in = owner < 0
    member_of = np.maximum(owner, 0)  # a walk-in's is meaningless: every use below masks it
    store_idx = np.where(
        (rng.random(n_orders) < 0.85) & ~walk_in,
        home[member_of],
        rng.choice(len(STORES), n_orders, p=store_share),
    )
    order_no = np.arange(1, n_orders + 1)
    order_ids = pc.binary_join_element_wise(_pick(store_codes, store_idx), _pad(order_no, 9), "")
    channel = np.where(
        walk_in,
        rng.choice(len(CHANNEL_NAMES), n_orders, p=ANONYMOUS_CHANNEL_SHARE),
        rng.choice(len(CHANNEL_NAMES), n_orders, p=MEMBER_CHANNEL_SHARE),
    )

    rang_by = pc.binary_join_element_wise(
        _pick(store_codes, store_idx),
        _pick(CASHIERS, staff_rng.choice(len(CASHIERS), n_orders, p=CASHIER_SHARE)),
        "",
    )

    # Walk-ins buy a little less: a coffee, maybe a pastry.
    basket = np.where(walk_in, 0.6, 1.2 + np.where(segment[member_of] == 0, 0.4, 0.0))
    n_lines = 1 + rng.poisson(basket)
    line_order = np.repeat(np.arange(n_orders), n_lines)
    line_pos = np.arange(len(line_order)) - np.repeat(np.cumsum(n_lines) - n_lines, n_lines)
    first_cat = rng.choice(len(CATEGORIES), n_orders, p=cat_pop)
    line_cat = np.where(
        line_pos == 0,
        first_cat[line_order],
        np.where(
            rng.random(len(line_order)) < 0.5,
            affinity[first_cat[line_order]],
            rng.choice(len(CATEGORIES), len(line_order), p=cat_pop),
        ),
    )
    product = line_cat * per_cat + rng.choice(per_cat, len(line_order), p=zipf)
    qty = rng.choice([1, 2, 3], len(line_order), p=[0.8, 0.15, 0.05])
    festival = weights[day_idx[line_order]] > 1.9
    unit_price = np.where(festival, (price_arr[product] * 9 // 100) * 10, price_arr[product])
    purchases = pa.table(
        dict(
            zip(
                PURCHASE_HEADERS,
                [
                    order_ids.take(pa.array(line_order)),
                    _pick(store_codes, store_idx[line_order]),
                    _local_text(local_seconds[line_order]),
                    card.take(pa.array(owner[line_order], mask=walk_in[line_order])),  # none: anonymous
                    _pick(sku_arr, product),
                    _pick(cat_names, line_cat),
                    _strs(qty),
                    _money(unit_price),
                    _pick(np.array(CHANNEL_NAMES), channel[line_order]),
                    rang_by.take(pa.array(line_order)),
                ],
                strict=True,
            )
        )
    )

    # --- returns -------------------------------------------------------------------------------------
    order_total = np.bincount(
        line_order, weights=(unit_price * qty).astype(float), minlength=n_orders
    ).astype(np.int64)
    first_line_amount = (unit_price * qty)[np.cumsum(n_lines) - n_lines]
    # Walk-ins bring a purchase back less often than members (a quarter as often).
    returned = np.nonzero(rng.random(n_orders) < np.where(walk_in, spec.return_rate / 4, spec.return_rate))[0]
    ret_seconds = (
        local_seconds[returned]
        + rng.integers(1, 14, len(returned)) * 86400
        + rng.integers(0, 3600, len(returned))
    )
    end_seconds = end.astype("datetime64[s]").astype(np.int64)
    keep = ret_seconds < end_seconds
    returned, ret_seconds = returned[keep], ret_seconds[keep]
    full = rng.random(len(returned)) < 0.6
    refund = np.where(full, order_total[returned], first_line_amount[returned])
    ret_orders = order_ids.take(pa.array(returned))
    returns = pa.table(
        dict(
            zip(
                RETURN_HEADERS,
                [
                    pc.binary_join_element_wise(pa.array(np.full(len(returned), "R")), ret_orders, ""),
                    ret_orders,
                    _pick(store_codes, store_idx[returned]),
                    _local_text(ret_seconds),
                    _money(refund),
                ],
                strict=True,
            )
        )
    )

    # --- opening balances from the previous system -------------------------------------------------
    migrated = np.nonzero(legacy & (rng.random(n) < spec.opening_balance_share))[0]
    points = np.clip(rng.lognormal(5.5, 0.9, len(migrated)).astype(np.int64), 10, 20_000)
    earned_day = start - rng.integers(1, 365, len(migrated))
    earned_day = np.maximum(earned_day, reg_day[migrated])
    expires_day = (earned_day.astype("datetime64[Y]") + 2).astype("datetime64[D]") - 1  # end of next year
    balances = pa.table(
        dict(
            zip(
                BALANCE_HEADERS,
                [
                    card.take(pa.array(migrated)),
                    _strs(points),
                    _local_text(earned_day.astype("datetime64[s]").astype(np.int64) + 12 * 3600),
                    _local_text(expires_day.astype("datetime64[s]").astype(np.int64) + 86399),
                ],
                strict=True,
            )
        )
    )
    return ChainData(spec, stores, products, members, purchases, returns, balances, segment)


@dataclass(frozen=True)
class ChainFiles:
    members: Path
    purchases: Path
    returns: Path
    balances: Path


def write_files(data: ChainData, directory: str | Path, *, fmt: str = "csv") -> ChainFiles:
    """Write the chain as POS-style exports (`csv`, `csv.gz` or `parquet`) into `directory`."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, table in (
        ("members", data.members),
        ("purchases", data.purchases),
        ("returns", data.returns),
        ("balances", data.balances),
    ):
        path = out / f"{name}.{fmt}"
        if fmt == "parquet":
            import pyarrow.parquet as pq

            pq.write_table(table, path)
        elif fmt == "csv.gz":
            with pa.CompressedOutputStream(str(path), "gzip") as stream:
                pacsv.write_csv(table, stream, pacsv.WriteOptions(quoting_style="none"))
        else:
            pacsv.write_csv(table, path, pacsv.WriteOptions(quoting_style="none"))
        paths[name] = path
    return ChainFiles(**paths)


def stores_for(data: ChainData) -> list[dict[str, str]]:
    """Store rows (code, name, city, timezone) to create before importing the files."""
    rows: list[dict[str, str]] = data.stores.to_pylist()
    return rows


__all__ = ["ChainData", "ChainFiles", "ChainSpec", "day_weights", "generate", "stores_for", "write_files"]
