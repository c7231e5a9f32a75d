# ruff: noqa: S608, E501
# SQL here is assembled from quoted identifiers (_q) and literals (_lit) and runs on a private in-memory
# DuckDB; long lines keep each SQL clause readable on one line.
"""Set-based validation and normalisation of an import file in DuckDB.

The whole file is checked with a handful of SQL statements instead of a Python loop per row: DuckDB
parses dates, money and phones column-wise, joins against reference tables (stores, members, orders
already in the database) and finds in-file duplicates with window functions. Each row ends up either
*good* (normalised, typed, ready to load), a *duplicate* of something already loaded (counted, skipped:
this is what makes re-running a file a no-op), or *rejected* with the first failing reason.

Rejected rows keep their original line number and text so they can be fixed and re-imported.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import phonenumbers
import pyarrow as pa

from loyalty.domain.cards import CARD_SEPARATORS, QR_PREFIX
from loyalty.domain.channels import DEFAULT_CHANNEL, SYNONYMS
from loyalty.domain.staff import is_staff_code
from loyalty.i18n import marker
from loyalty.imports.mapping import ColumnMap, Kind
from loyalty.imports.readers import LINE_COLUMN

N_ = marker("cli")  # reasons are explained to people in the import summary (the CLI's catalog)

DEFAULT_DATE_FORMATS: tuple[str, ...] = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%Y.%m.%d %H:%M:%S",
    "%Y.%m.%d",
    "%Y%m%d%H%M%S",
    "%Y%m%d",
    "%Y年%m月%d日 %H:%M:%S",
    "%Y年%m月%d日 %H:%M",
    "%Y年%m月%d日",
)

# Reason codes written to the reject file; stable so people can filter on them.
REASONS: dict[str, str] = {
    "missing_field": N_("a required value is empty"),
    "bad_phone": N_("not a valid mobile/phone number"),
    "bad_email": N_("not a valid e-mail address"),
    "unparseable_date": N_("date/time cannot be parsed"),
    "bad_amount": N_("amount is not a number"),
    "negative_amount": N_("amount or quantity is negative"),
    "bad_quantity": N_("quantity is not a positive whole number"),
    "unknown_store": N_("store code does not exist"),
    "unknown_member": N_("no member with this card/phone/code"),
    "bad_channel": N_("channel is not store, online, mini_program or delivery (nor a name for one)"),
    "bad_staff": N_("staff code is not 1 to 100 printable characters"),
    "bad_brand": N_("brand is longer than 100 characters"),
    "future_date": N_("date/time is in the future"),
    "bad_currency": N_("not the programme's currency"),
    "duplicate_order": N_("order id already used in this file for another transaction"),
    "duplicate_member": N_("member appears twice in this file"),
    "phone_in_use": N_("phone already belongs to another member"),
    "unknown_order": N_("original order not found"),
    "refund_exceeds": N_("refund is larger than what is left to refund on the order"),
    "duplicate_return": N_("return id already used in this file"),
    "bad_points": N_("points must be a positive whole number"),
    "bad_expiry": N_("expiry is before the earn date"),
}

log = logging.getLogger(__name__)

PhoneNormaliser = Callable[[list[str], str], list[str | None]]


def normalise_phones(raw: list[str], region: str) -> list[str | None]:
    """E.164 for each raw phone, or None when `phonenumbers` says it is not a valid number."""
    out: list[str | None] = []
    for value in raw:
        try:
            parsed = phonenumbers.parse(value, region)
        except phonenumbers.NumberParseException:
            out.append(None)
            continue
        ok = phonenumbers.is_valid_number(parsed)
        out.append(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) if ok else None)
    return out


@dataclass
class Reference:
    """What already exists in the database, as Arrow tables, for joins during validation."""

    stores: pa.Table  # code:str, id:int64, timezone:str
    members: pa.Table  # id:int64, card_no:str, phone:str, member_code:str
    orders: (
        pa.Table
    )  # store_id:int64, order_id:str, id:int64, member_id:int64, total_minor:int64, refunded_minor
    returns: pa.Table  # store_id:int64, return_id:str
    balances: pa.Table  # member_id:int64, source_key:str
    default_timezone: str = "Asia/Shanghai"
    currency_exponent: int = 2
    #: the programme's currency: a line in another (a currency column, a sign in an amount) is refused
    currency: str | None = None

    @staticmethod
    def empty(
        stores: list[tuple[str, int, str]] | None = None, default_timezone: str = "Asia/Shanghai"
    ) -> Reference:
        """A reference with only `stores` (code, id, timezone): for tests and dry runs."""
        rows = stores or []
        return Reference(
            stores=pa.table(
                {
                    "code": pa.array([r[0] for r in rows], pa.string()),
                    "id": pa.array([r[1] for r in rows], pa.int64()),
                    "timezone": pa.array([r[2] for r in rows], pa.string()),
                }
            ),
            members=empty_members(),
            orders=empty_orders(),
            returns=pa.table({"store_id": pa.array([], pa.int64()), "return_id": pa.array([], pa.string())}),
            balances=pa.table(
                {"member_id": pa.array([], pa.int64()), "source_key": pa.array([], pa.string())}
            ),
            default_timezone=default_timezone,
        )


def empty_members() -> pa.Table:
    return pa.table(
        {
            "id": pa.array([], pa.int64()),
            "card_no": pa.array([], pa.string()),
            "phone": pa.array([], pa.string()),
            "member_code": pa.array([], pa.string()),
        }
    )


def empty_orders() -> pa.Table:
    return pa.table(
        {
            "store_id": pa.array([], pa.int64()),
            "order_id": pa.array([], pa.string()),
            "id": pa.array([], pa.int64()),
            "member_id": pa.array([], pa.int64()),
            "total_minor": pa.array([], pa.int64()),
            "refunded_minor": pa.array([], pa.int64()),
        }
    )


@dataclass
class Checked:
    """Outcome of validation: good rows to load, rejects with reasons, and duplicate count."""

    kind: Kind
    read: int
    good: pa.Table
    rejects: pa.Table  # _line, reason, detail, then the original columns
    duplicates: int
    extra: dict[str, pa.Table] = field(default_factory=dict)

    @property
    def rejected(self) -> int:
        return int(self.rejects.num_rows)

    def reasons(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for reason in self.rejects.column("reason").to_pylist():
            counts[reason] = counts.get(reason, 0) + 1
        return dict(sorted(counts.items()))


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _text(m: ColumnMap, name: str) -> str:
    """SQL for the trimmed text of field `name` (NULL when empty or unmapped)."""
    col = m.source(name)
    if col is not None:
        expr = f"NULLIF(trim({_q(col)}), '')"
        if name in m.defaults:
            return f"coalesce({expr}, {_lit(m.defaults[name])})"
        return expr
    if name in m.defaults:
        return _lit(m.defaults[name])
    return "CAST(NULL AS VARCHAR)"


def _key_text(m: ColumnMap, name: str) -> str:
    """A member key as the core stores it (`domain.cards`): a card number typed as printed loses the
    separators between its digits, a member code scanned from the QR code its prefix. Identifiers
    exported from spreadsheets often gain a `.0` (17850.0): stripped for card numbers."""
    expr = _text(m, name)
    if name == "member_code":
        n = len(QR_PREFIX)
        return f"CASE WHEN lower(left({expr}, {n})) = {_lit(QR_PREFIX)} THEN trim(substr({expr}, {n + 1})) ELSE {expr} END"
    if name != "card_no":
        return expr
    if m.card_no_strip_decimal:
        expr = f"regexp_replace({expr}, '^(\\d+)\\.0+$', '\\1')"
    # The regular expressions run only on texts with a space or a dash (the usual number has neither).
    bare = f"regexp_replace({expr}, {_lit(CARD_SEPARATORS)}, '', 'g')"
    return (
        f"CASE WHEN strpos({expr}, ' ') = 0 AND strpos({expr}, '-') = 0 THEN {expr} "
        f"WHEN regexp_full_match({bare}, '[0-9]+') THEN {bare} ELSE {expr} END"
    )


def _money(expr: str) -> str:
    """Decimal amount of a money text; currency signs, separators and spaces removed.

    A plain number (the usual case) is cast directly: the regular expression, the expensive part on
    ten million lines, only runs on texts that do not cast as they are.
    """
    cleaned = f"regexp_replace({expr}, '[¥￥$£€,\\s]|RMB|CNY|元', '', 'g')"
    return f"coalesce(try_cast({expr} AS DECIMAL(18,4)), try_cast({cleaned} AS DECIMAL(18,4)))"


# The currency signs and codes `_money` strips from an amount, and the currencies each may stand for.
_SIGNS: dict[str, tuple[str, ...]] = {
    "$": ("USD", "HKD", "SGD", "AUD", "CAD", "NZD", "TWD", "MXN"),
    "£": ("GBP",),
    "€": ("EUR",),
    "¥": ("CNY", "JPY"),
    "￥": ("CNY", "JPY"),
    "RMB": ("CNY",),
    "CNY": ("CNY",),
    "元": ("CNY",),
}


def _foreign_money(expr: str, currency: str | None) -> str:
    """SQL: whether the money text `expr` carries the sign or code of a currency other than `currency`
    (`$12.50` on a CNY programme), which `_money` would otherwise strip and read as `currency`.

    Plain numbers (the usual case) cast as they are and skip the regular expression.
    """
    foreign = [sign for sign, users in _SIGNS.items() if currency is not None and currency not in users]
    if not foreign:
        return "false"
    pattern = "|".join(re.escape(sign) for sign in foreign)
    signed = f"coalesce(regexp_matches({expr}, {_lit(pattern)}), false)"
    return f"(try_cast({expr} AS DECIMAL(18,4)) IS NULL AND {signed})"


def _channel_of(raw: str) -> str:
    """SQL for the channel (`domain.channels`) the text `raw` names, NULL when it names none."""
    norm = f"regexp_replace(lower(trim({raw})), '[\\s_\\-.]+', '', 'g')"
    names = " ".join(f"WHEN {_lit(name)} THEN {_lit(channel)}" for name, channel in SYNONYMS.items())
    return f"CASE {norm} {names} END"


def _ts_local(expr: str, formats: tuple[str, ...]) -> str:
    fmts = "[" + ", ".join(_lit(f) for f in formats) + "]"
    return f"try_strptime({expr}, {fmts})"


def _ts_utc_us(expr: str, formats: tuple[str, ...], tz_expr: str) -> str:
    """Epoch microseconds (UTC): offsets in the text win; naive times are local to `tz_expr`."""
    aware = f"CASE WHEN regexp_matches({expr}, '(Z|[+-]\\d\\d:?\\d\\d)$') THEN epoch_us(try_cast({expr} AS TIMESTAMPTZ)) END"
    local = f"epoch_us(timezone({tz_expr}, {_ts_local(expr, formats)}))"
    return f"coalesce({aware}, {local})"


class Validator:
    """Runs the checks for one file. One DuckDB connection, dropped afterwards."""

    def __init__(
        self,
        table: pa.Table,
        mapping: ColumnMap,
        ref: Reference,
        *,
        phone_normaliser: PhoneNormaliser = normalise_phones,
        now_us: int | None = None,
        skew_us: int = 300_000_000,
    ) -> None:
        self.table = table
        self.m = mapping
        self.ref = ref
        self.phone_normaliser = phone_normaliser
        self.now_us = now_us
        # Sales and returns dated later than this are refused (history is old, never in the future).
        self.latest = f"({now_us if now_us is not None else 'epoch_us(now())'} + {skew_us})"
        self.formats = mapping.date_formats or DEFAULT_DATE_FORMATS
        self.scale = 10**ref.currency_exponent
        # DuckDB draws a progress bar on stdout for any query over two seconds, which would land
        # in the middle of `loyalty import --json` output.
        self.con = duckdb.connect()
        self.con.execute("SET enable_progress_bar = false").fetchall()
        self.con.execute("SET TimeZone='UTC'").fetchall()
        self.con.register("src", table)
        self.con.register("ref_stores", ref.stores)
        self.con.register("ref_members", ref.members)
        self.con.register("ref_orders", ref.orders)
        self.con.register("ref_returns", ref.returns)
        self.con.register("ref_balances", ref.balances)

    # -- helpers -----------------------------------------------------------------------------------
    def _exec(self, sql: str) -> list[Any]:
        """Run a statement to completion (DuckDB refuses new work while a result is unfinished)."""
        started = time.perf_counter()
        rows = self.con.execute(sql).fetchall()
        log.debug("%.2f s: %s", time.perf_counter() - started, " ".join(sql.split())[:90])
        return rows

    def _arrow(self, sql: str) -> pa.Table:
        started = time.perf_counter()
        out = self.con.sql(sql).to_arrow_table()
        log.debug("%.2f s: %s", time.perf_counter() - started, " ".join(sql.split())[:90])
        return out

    def _scalar(self, sql: str) -> int:
        rows = self._exec(sql)
        return int(rows[0][0]) if rows and rows[0][0] is not None else 0

    def _phone_table(self, column: str, relation: str) -> None:
        """Create `phones(raw, e164)` for every distinct phone text in `relation.column`.

        Mainland mobiles (the vast majority) are normalised by a regular expression inside DuckDB;
        only the remaining distinct values go through `phonenumbers`, so a million-member file does not
        pay a Python call per row.
        """
        region = self.m.phone_region
        self._exec(
            f"""CREATE OR REPLACE TEMP TABLE phones AS
            SELECT raw, CASE WHEN {_lit(region)} = 'CN' AND regexp_matches(d, '^(\\+?86|0086)?1[3-9]\\d{{9}}$')
                             THEN '+86' || right(d, 11) END AS e164
            FROM (SELECT DISTINCT {column} AS raw, regexp_replace({column}, '[\\s\\-()]', '', 'g') AS d
                  FROM {relation} WHERE {column} IS NOT NULL)"""
        )
        rest = [r[0] for r in self._exec("SELECT raw FROM phones WHERE e164 IS NULL")]
        if rest:
            fixed = pa.table(
                {
                    "raw": pa.array(rest, pa.string()),
                    "e164": pa.array(self.phone_normaliser(rest, region), pa.string()),
                }
            )
            self.con.register("phones_fixed", fixed)
            self._exec(
                "UPDATE phones SET e164 = f.e164 FROM phones_fixed f WHERE phones.raw = f.raw AND phones.e164 IS NULL"
            )

    def _staff_table(self, column: str, relation: str) -> str:
        """Register `staff_bad(raw)`: the distinct texts of `relation.column` that are not staff codes
        (`domain.staff`). A file names a handful of cashiers, each checked once in Python, not once
        per line. Returns the SQL condition, on `column`, of a line naming a bad one."""
        self._exec(
            f"""CREATE OR REPLACE TEMP TABLE staff_seen AS
                SELECT DISTINCT {column} AS raw FROM {relation} WHERE {column} IS NOT NULL"""
        )
        bad = [raw for (raw,) in self._exec("SELECT raw FROM staff_seen") if not is_staff_code(raw)]
        self.con.register("staff_bad", pa.table({"raw": pa.array(bad, pa.string())}))
        return f"{column} IN (SELECT raw FROM staff_bad)"

    def _member_lookup(self, alias: str) -> str:
        """SQL expression for the member id matched by card_no, member_code or phone (in that order)."""
        return (
            f"coalesce((SELECT id FROM ref_members r WHERE r.card_no = {alias}.card_no LIMIT 1),"
            f" (SELECT id FROM ref_members r WHERE r.member_code = {alias}.member_code LIMIT 1),"
            f" (SELECT id FROM ref_members r WHERE r.phone = {alias}.phone_e164 LIMIT 1))"
        )

    def _finish(
        self, checked_table: str, good: str | pa.Table, extra: dict[str, pa.Table] | None = None
    ) -> Checked:
        """Split `checked_table` (has _line, reason, detail, dup) into good rows (a query, or the rows
        themselves) and rejects."""
        cols = ", ".join(f"s.{_q(c)}" for c in self.table.column_names if c != LINE_COLUMN)
        rejects = self._arrow(
            f"""SELECT c._line, c.reason, c.detail{", " + cols if cols else ""}
                FROM {checked_table} c JOIN src s ON s._line = c._line
                WHERE c.reason IS NOT NULL ORDER BY c._line"""
        )
        dups = self._scalar(f"SELECT count(*) FROM {checked_table} WHERE reason IS NULL AND dup")
        good_rows = self._arrow(good) if isinstance(good, str) else good
        return Checked(
            kind=self.m.kind,
            read=self.table.num_rows,
            good=good_rows,
            rejects=rejects,
            duplicates=dups,
            extra=extra or {},
        )

    def run(self) -> Checked:
        try:
            if self.m.kind is Kind.members:
                return self._members()
            if self.m.kind is Kind.purchases:
                return self._purchases()
            if self.m.kind is Kind.returns:
                return self._returns()
            return self._balances()
        finally:
            self.con.close()

    # -- members -----------------------------------------------------------------------------------
    def _members(self) -> Checked:
        m = self.m
        consent = _text(m, "consent")
        self._exec(
            f"""CREATE TEMP TABLE n AS SELECT _line,
                {_key_text(m, "card_no")} AS card_no, {_key_text(m, "member_code")} AS member_code,
                {_text(m, "phone")} AS phone_raw, {_text(m, "name")} AS name, lower({_text(m, "email")}) AS email,
                {_text(m, "birthday")} AS birthday_raw, {_text(m, "gender")} AS gender_raw,
                {_text(m, "registered_at")} AS registered_raw, {consent} AS consent_raw,
                {_text(m, "store")} AS store_code, {_text(m, "registered_by")} AS registered_by
            FROM src"""
        )
        self._phone_table("phone_raw", "n")
        bad_staff = self._staff_table("registered_by", "n") if m.has("registered_by") else "false"
        tz = _lit(self.ref.default_timezone)
        self._exec(
            f"""CREATE TEMP TABLE p AS SELECT n.*, ph.e164 AS phone_e164, st.id AS store_id,
                CAST({_ts_local("birthday_raw", self.formats)} AS DATE) AS birthday,
                {_ts_utc_us("registered_raw", self.formats, f"coalesce(st.timezone, {tz})")} AS registered_us,
                CASE WHEN lower(consent_raw) IN ('1','y','yes','true','t','是','同意','已同意','opt-in','optin')
                     THEN true ELSE false END AS consent,
                CASE WHEN lower(gender_raw) IN ('m','male','男','1','man') THEN 'male'
                     WHEN lower(gender_raw) IN ('f','female','女','2','woman') THEN 'female' END AS gender
            FROM n LEFT JOIN phones ph ON ph.raw = n.phone_raw LEFT JOIN ref_stores st ON st.code = n.store_code"""
        )
        existing = (
            "coalesce((SELECT id FROM ref_members r WHERE r.card_no = p.card_no LIMIT 1),"
            " (SELECT id FROM ref_members r WHERE r.member_code = p.member_code LIMIT 1),"
            " CASE WHEN p.card_no IS NULL AND p.member_code IS NULL"
            " THEN (SELECT id FROM ref_members r WHERE r.phone = p.phone_e164 LIMIT 1) END)"
        )
        self._exec(
            f"""CREATE TEMP TABLE w AS SELECT p.*, {existing} AS existing_id,
                (SELECT id FROM ref_members r WHERE r.phone = p.phone_e164 LIMIT 1) AS phone_owner,
                CASE WHEN card_no IS NULL THEN 1 ELSE
                  row_number() OVER (PARTITION BY card_no ORDER BY _line) END AS card_seq,
                CASE WHEN phone_e164 IS NULL THEN 1 ELSE
                  row_number() OVER (PARTITION BY phone_e164 ORDER BY _line) END AS phone_seq,
                CASE WHEN member_code IS NULL THEN 1 ELSE
                  row_number() OVER (PARTITION BY member_code ORDER BY _line) END AS code_seq
            FROM p"""
        )
        self._exec(
            f"""CREATE TEMP TABLE c AS SELECT *, existing_id IS NOT NULL AS dup,
            CASE
              WHEN card_no IS NULL AND phone_raw IS NULL AND member_code IS NULL THEN 'missing_field'
              WHEN phone_raw IS NOT NULL AND phone_e164 IS NULL THEN 'bad_phone'
              WHEN email IS NOT NULL AND NOT regexp_matches(email, '^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$') THEN 'bad_email'
              WHEN birthday_raw IS NOT NULL AND (birthday IS NULL OR birthday < DATE '1900-01-01'
                   OR birthday > current_date) THEN 'unparseable_date'
              WHEN registered_raw IS NOT NULL AND registered_us IS NULL THEN 'unparseable_date'
              WHEN store_code IS NOT NULL AND store_id IS NULL THEN 'unknown_store'
              WHEN {bad_staff} THEN 'bad_staff'
              WHEN card_seq > 1 OR phone_seq > 1 OR code_seq > 1 THEN 'duplicate_member'
              WHEN existing_id IS NULL AND phone_owner IS NOT NULL THEN 'phone_in_use'
            END AS reason,
            CASE
              WHEN card_no IS NULL AND phone_raw IS NULL AND member_code IS NULL THEN 'no card_no, phone or member_code'
              WHEN phone_raw IS NOT NULL AND phone_e164 IS NULL THEN 'phone ' || phone_raw
              WHEN email IS NOT NULL AND NOT regexp_matches(email, '^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$') THEN 'email ' || email
              WHEN birthday_raw IS NOT NULL AND (birthday IS NULL OR birthday < DATE '1900-01-01'
                   OR birthday > current_date) THEN 'birthday ' || birthday_raw
              WHEN registered_raw IS NOT NULL AND registered_us IS NULL THEN 'registered_at ' || registered_raw
              WHEN store_code IS NOT NULL AND store_id IS NULL THEN 'store ' || store_code
              WHEN {bad_staff} THEN 'registered_by ' || registered_by
              WHEN card_seq > 1 OR phone_seq > 1 OR code_seq > 1 THEN 'card/phone/code repeated from an earlier line'
              WHEN existing_id IS NULL AND phone_owner IS NOT NULL THEN 'phone ' || phone_e164
            END AS detail
            FROM w"""
        )
        return self._finish(
            "c",
            """SELECT _line, card_no, member_code, phone_e164 AS phone, name, email, birthday, gender,
                      registered_us, consent, store_id, registered_by
               FROM c WHERE reason IS NULL AND NOT dup ORDER BY _line""",
        )

    # -- purchases (and returns hidden in purchase files) -------------------------------------------
    def _purchases(self) -> Checked:
        m = self.m
        line_level = m.has("sku")
        tz_default = _lit(m.timezone or self.ref.default_timezone)
        tz = (
            f"coalesce({_lit(m.timezone)}, st.timezone)"
            if m.timezone
            else f"coalesce(st.timezone, {tz_default})"
        )
        prefix = m.returns.order_prefix
        is_return = "false"
        if prefix:
            is_return = f"starts_with(order_id, {_lit(prefix)})"
        elif m.returns.negative_quantity:
            is_return = "coalesce(qty < 0, false)"
        amount_src = _money(_text(m, "amount"))
        # n and p are views: their expressions are evaluated once, while w is materialised (a wide
        # temporary table per step costs more than the expressions on ten million lines).
        self._exec(
            f"""CREATE TEMP VIEW n AS SELECT _line,
                {_key_text(m, "card_no")} AS card_no, {_key_text(m, "member_code")} AS member_code,
                {_text(m, "phone")} AS phone_raw, {_text(m, "store")} AS store_code,
                {_text(m, "order_id")} AS order_id, {_text(m, "occurred_at")} AS occurred_raw,
                {_text(m, "amount")} AS amount_raw, {amount_src} AS amount_dec,
                {_text(m, "sku")} AS sku, {_text(m, "category")} AS category, {_text(m, "brand")} AS brand,
                {_text(m, "quantity")} AS qty_raw, try_cast({_text(m, "quantity")} AS DECIMAL(18,3)) AS qty_dec,
                {_text(m, "unit_price")} AS price_raw, {_money(_text(m, "unit_price"))} AS price_dec,
                {_money(_text(m, "discount"))} AS discount_dec, {_text(m, "description")} AS description,
                {_text(m, "channel")} AS channel_raw, {_text(m, "discount")} AS discount_raw,
                {_text(m, "currency")} AS currency_raw, {_text(m, "staff")} AS staff
            FROM src"""
        )
        self._phone_table("phone_raw", "n")
        # Who rang the sale (an order's is its first line's): each distinct code checked once.
        bad_staff = self._staff_table("staff", "n") if m.has("staff") else "false"
        # The channel: an empty one is a store sale; each distinct text is looked up once (a file has
        # a handful), not once per line. Without a channel column every sale is a store sale.
        channel, channels_join = _lit(DEFAULT_CHANNEL), ""
        if m.has("channel"):
            self._exec(
                f"""CREATE TEMP TABLE channels AS SELECT raw, {_channel_of("raw")} AS channel
                FROM (SELECT DISTINCT channel_raw AS raw FROM n WHERE channel_raw IS NOT NULL)"""
            )
            channel = f"CASE WHEN n.channel_raw IS NULL THEN {_lit(DEFAULT_CHANNEL)} ELSE ch.channel END"
            channels_join = "LEFT JOIN channels ch ON ch.raw = n.channel_raw"
        qty = "CASE WHEN qty_raw IS NULL THEN 1 ELSE CAST(qty_dec AS BIGINT) END"
        line_amount = (
            "CASE WHEN amount_raw IS NOT NULL THEN amount_dec "
            "ELSE price_dec * (CASE WHEN qty_raw IS NULL THEN 1 ELSE qty_dec END) - coalesce(discount_dec, 0) END"
        )
        self._exec(
            f"""CREATE TEMP VIEW p AS SELECT n.*, ph.e164 AS phone_e164, st.id AS store_id,
                {_ts_utc_us("occurred_raw", self.formats, tz)} AS occurred_us,
                {qty} AS qty, CASE WHEN qty_raw IS NOT NULL AND (qty_dec IS NULL OR qty_dec <> trunc(qty_dec)
                     OR qty_dec = 0) THEN true ELSE false END AS qty_bad,
                {line_amount} AS amount_dec2,
                CAST(round(({line_amount}) * {self.scale}) AS BIGINT) AS amount_minor,
                CAST(round(price_dec * {self.scale}) AS BIGINT) AS unit_price_minor,
                CAST(round(coalesce(discount_dec, 0) * {self.scale}) AS BIGINT) AS discount_minor,
                {channel} AS channel
            FROM n LEFT JOIN phones ph ON ph.raw = n.phone_raw LEFT JOIN ref_stores st ON st.code = n.store_code
                {channels_join}"""
        )
        # Members are looked up once per distinct key (a member's lines share one), not once per line.
        self._exec(
            f"""CREATE TEMP TABLE mk AS SELECT card_no, member_code, phone_e164,
                CASE WHEN card_no IS NULL AND member_code IS NULL AND phone_e164 IS NULL THEN NULL
                     ELSE {self._member_lookup("k")} END AS member_id
            FROM (SELECT DISTINCT card_no, member_code, phone_e164 FROM p) k"""
        )
        # Each order's first line and member key, grouped once (a window over every line sorts them all).
        # An order's channel is its first line's (a line in another channel belongs to another order).
        self._exec(
            """CREATE TEMP TABLE ord AS SELECT store_code AS o_store, order_id AS o_order, min(_line) AS first_line,
                arg_min(coalesce(card_no, member_code, phone_e164, ''), _line) AS first_key,
                arg_min(coalesce(channel, ''), _line) AS first_channel
            FROM p GROUP BY store_code, order_id"""
        )
        bad_price = "price_raw IS NOT NULL AND price_dec IS NULL"
        bad_amt = "amount_raw IS NOT NULL AND amount_dec IS NULL"
        missing_amount = "amount_raw IS NULL AND price_raw IS NULL"
        negative = "(amount_dec2 < 0 OR price_dec < 0 OR (qty < 0 AND NOT is_return))"
        unknown_member = "member_key IS NOT NULL AND member_id IS NULL"
        cur = self.ref.currency
        other_currency = " OR ".join(
            [f"(currency_raw IS NOT NULL AND upper(currency_raw) <> {_lit(cur)})" if cur else "false"]
            + [_foreign_money(raw, cur) for raw in ("amount_raw", "price_raw", "discount_raw")]
        )
        if m.create_members:
            unknown_member = "false"
        dup_in_file = (
            "seq_in_order > 1"
            if not line_level
            else "(coalesce(member_key, '') <> first_key OR coalesce(channel, '') <> first_channel)"
        )
        checks = [
            ("order_id IS NULL", "'missing_field'", "'order_id is empty'"),
            ("occurred_raw IS NULL", "'missing_field'", "'occurred_at is empty'"),
            ("store_code IS NULL", "'missing_field'", "'store is empty'"),
            ("store_id IS NULL", "'unknown_store'", "'store ' || store_code"),
            ("occurred_us IS NULL", "'unparseable_date'", "'occurred_at ' || occurred_raw"),
            (f"occurred_us > {self.latest}", "'future_date'", "'occurred_at ' || occurred_raw"),
            ("phone_raw IS NOT NULL AND phone_e164 IS NULL", "'bad_phone'", "'phone ' || phone_raw"),
            (missing_amount, "'missing_field'", "'amount and unit_price are empty'"),
            (
                other_currency,
                "'bad_currency'",
                f"coalesce('currency ' || currency_raw, 'amount ' || coalesce(amount_raw, price_raw, discount_raw))"
                f" || ', the programme uses ' || {_lit(cur or '')}",
            ),
            (f"{bad_amt} OR {bad_price}", "'bad_amount'", "'amount ' || coalesce(amount_raw, price_raw)"),
            ("qty_bad", "'bad_quantity'", "'quantity ' || qty_raw"),
            (negative, "'negative_amount'", "'amount ' || CAST(amount_dec2 AS VARCHAR)"),
            ("channel IS NULL", "'bad_channel'", "'channel ' || channel_raw"),
            (bad_staff, "'bad_staff'", "'staff ' || staff"),
            ("length(brand) > 100", "'bad_brand'", "'brand ' || brand"),
            # A sale without a member key is an anonymous sale (kept, earns nothing); a key that names
            # no member is refused.
            (unknown_member, "'unknown_member'", "'member ' || member_key"),
            (
                f"NOT is_return AND {dup_in_file}",
                "'duplicate_order'",
                "'order ' || order_id || ' first seen at line ' || CAST(first_line AS VARCHAR)",
            ),
        ]
        reason = "CASE " + " ".join(f"WHEN {c} THEN {r}" for c, r, _ in checks) + " END"
        detail = "CASE " + " ".join(f"WHEN {c} THEN {d}" for c, _, d in checks) + " END"
        # w keeps each line's verdict and only what later steps read (good rows, embedded returns, new
        # members): the raw texts the checks need are not copied (on ten million lines, materialising
        # every column cost more than all the checks).
        self._exec(
            f"""CREATE TEMP TABLE w AS SELECT _line, card_no, member_code, phone_e164, store_id, order_id,
                occurred_us, sku, category, brand, qty, amount_minor, unit_price_minor, discount_minor, is_return,
                member_id, member_key, channel, staff, first_line, {reason} AS reason, {detail} AS detail
            FROM (SELECT p.*, {is_return} AS is_return, mk.member_id,
                    coalesce(p.card_no, p.member_code, p.phone_e164) AS member_key,
                    o.first_key, o.first_channel, o.first_line,
                    CASE WHEN p._line = o.first_line THEN 1 ELSE 2 END AS seq_in_order  -- only "> 1" is read
                FROM p LEFT JOIN mk ON mk.card_no IS NOT DISTINCT FROM p.card_no
                    AND mk.member_code IS NOT DISTINCT FROM p.member_code
                    AND mk.phone_e164 IS NOT DISTINCT FROM p.phone_e164
                JOIN ord o ON o.o_store IS NOT DISTINCT FROM p.store_code
                    AND o.o_order IS NOT DISTINCT FROM p.order_id)"""
        )
        # Without embedded returns c0 is read by three cheap queries (rejects, duplicates, good rows):
        # looking up the database's orders in each costs less than copying every line once more.
        c0_kind = "TABLE" if prefix or m.returns.negative_quantity else "VIEW"
        self._exec(
            f"""CREATE TEMP {c0_kind} c0 AS SELECT w.*,
                EXISTS (SELECT 1 FROM ref_orders o WHERE o.store_id = w.store_id AND o.order_id = w.order_id) AS dup
            FROM w"""
        )
        extra: dict[str, pa.Table] = {}
        if prefix or m.returns.negative_quantity:
            self._embedded_returns()
            extra["returns"] = self._arrow(
                """SELECT store_id, return_id, original_order_id, min(occurred_us) AS occurred_us,
                          sum(refund_minor) AS refund_minor, min(_line) AS first_line, count(*) AS lines,
                          list(_line ORDER BY _line) AS line_numbers
                   FROM ret_ok GROUP BY store_id, return_id, original_order_id ORDER BY first_line"""
            )
        else:
            self._exec("CREATE TEMP VIEW c AS SELECT * FROM c0")
        if m.create_members:
            extra["new_members"] = self._arrow(
                """SELECT card_no, member_code, phone_e164 AS phone, min(_line) AS first_line FROM c
                   WHERE reason IS NULL AND NOT dup AND NOT is_return AND member_key IS NOT NULL
                     AND member_id IS NULL
                   GROUP BY card_no, member_code, phone_e164 ORDER BY first_line"""
            )
        # What the loader reads, no more: every string column is copied once more in posting order.
        good = self._in_posting_order(
            "reason IS NULL AND NOT dup AND NOT is_return",
            """_line, first_line, store_id, order_id, occurred_us, member_id, card_no, sku, category, brand,
               qty AS quantity, unit_price_minor, discount_minor, amount_minor, channel, staff,
               member_key IS NULL AS anonymous""",
        )
        checked = self._finish("c", good, extra)
        if "returns" in extra:
            checked.duplicates += self._scalar("SELECT count(*) FROM ret_dup")
        return checked

    def _in_posting_order(self, where: str, columns: str) -> pa.Table:
        """Good lines of `c` in posting order, each carrying its order's time (that of its first line).

        Orders are loaded in time order so that tier upgrades and point multipliers apply as they
        would have live; orders at the same instant in file order; lines of an order together, in file
        order (`first_line` is the line an order starts on). Sorting ten million wide rows in DuckDB
        costs several times more than sorting their line numbers and moving the rows once with Arrow's
        `take`, which is skipped altogether when the file already is in posting order (as POS exports
        usually are).
        """
        rows = self._arrow(f"SELECT {columns} FROM c WHERE {where}")
        order = self._arrow(
            f"""SELECT _line, min(occurred_us) OVER (PARTITION BY first_line) AS order_us
                FROM c WHERE {where} ORDER BY order_us, first_line, _line"""
        )
        lines = rows.column("_line").to_numpy()
        wanted = order.column("_line").to_numpy()
        if not np.array_equal(lines, wanted):  # DuckDB's parallel joins return rows in any order
            position = np.empty(int(lines.max()) + 1, dtype=np.int64)
            position[lines] = np.arange(len(lines), dtype=np.int64)
            rows = _take(rows, position[wanted])
        at = rows.column_names.index("occurred_us")
        return rows.set_column(at, "occurred_us", order.column("order_us"))

    def _embedded_returns(self) -> None:
        """Turn return rows of a purchases file into returns against their original order.

        With an order prefix (`C536379`), the original is first looked up by the id without the prefix;
        failing that, by the latest earlier purchase line of the same member with the same SKU and at
        least the returned quantity (the Online Retail convention, where cancellations get a new number).
        """
        prefix = self.m.returns.order_prefix or ""
        self._exec(
            f"""CREATE TEMP TABLE r AS SELECT *, CASE WHEN {_lit(prefix)} <> ''
                     THEN substr(order_id, {len(prefix) + 1}) ELSE order_id END AS stripped
                FROM c0 WHERE is_return AND (reason IS NULL OR reason IN ('negative_amount', 'duplicate_order'))"""
        )
        # Candidate originals: good purchase rows of this file and orders already in the database.
        self._exec(
            """CREATE TEMP TABLE cand AS
               SELECT store_id, order_id, member_key, sku, qty, occurred_us FROM c0
               WHERE reason IS NULL AND NOT is_return"""
        )
        self._exec(
            """CREATE TEMP TABLE rm AS SELECT r._line,
                 coalesce(
                   (SELECT k.order_id FROM cand k WHERE k.store_id = r.store_id AND k.order_id = r.stripped LIMIT 1),
                   (SELECT o.order_id FROM ref_orders o WHERE o.store_id = r.store_id AND o.order_id = r.stripped),
                   (SELECT k.order_id FROM cand k WHERE r.member_key IS NOT NULL AND k.store_id = r.store_id
                      AND k.member_key = r.member_key AND k.sku = r.sku AND k.qty >= abs(r.qty)
                      AND k.occurred_us <= r.occurred_us ORDER BY k.occurred_us DESC, k.order_id DESC LIMIT 1)
                 ) AS original_order_id
               FROM r"""
        )
        self._exec(
            """CREATE TEMP TABLE rj AS SELECT r.*, rm.original_order_id,
                 CASE WHEN rm.original_order_id = r.stripped THEN r.order_id
                      ELSE r.order_id || '/' || rm.original_order_id END AS return_id,
                 abs(r.amount_minor) AS refund_minor
               FROM r JOIN rm USING (_line)"""
        )
        self._exec(
            """CREATE TEMP TABLE ret_dup AS SELECT _line FROM rj WHERE original_order_id IS NOT NULL
                 AND EXISTS (SELECT 1 FROM ref_returns x WHERE x.store_id = rj.store_id AND x.return_id = rj.return_id)"""
        )
        # Refunds against one order never exceed what was paid (minus earlier refunds), as the live
        # return path insists; the excess lines are rejected here instead of failing the load.
        self._exec(
            """CREATE TEMP TABLE rtot AS SELECT store_id, order_id, sum(amount_minor) AS total
               FROM c0 WHERE reason IS NULL AND NOT is_return GROUP BY store_id, order_id"""
        )
        self._exec(
            """CREATE TEMP TABLE rx AS SELECT _line FROM (
                 SELECT rj._line, sum(rj.refund_minor) OVER (
                          PARTITION BY rj.store_id, rj.original_order_id ORDER BY rj.occurred_us, rj._line) AS running,
                        coalesce(t.total, o.total_minor - coalesce(o.refunded_minor, 0)) AS refundable
                 FROM rj LEFT JOIN rtot t ON t.store_id = rj.store_id AND t.order_id = rj.original_order_id
                         LEFT JOIN ref_orders o ON o.store_id = rj.store_id AND o.order_id = rj.original_order_id
                 WHERE rj.original_order_id IS NOT NULL)
               WHERE running > refundable"""
        )
        self._exec(
            """CREATE TEMP TABLE ret_ok AS SELECT * FROM rj WHERE original_order_id IS NOT NULL
                 AND _line NOT IN (SELECT _line FROM ret_dup) AND _line NOT IN (SELECT _line FROM rx)"""
        )
        self._exec(
            """CREATE TEMP TABLE c AS SELECT c0.* REPLACE (
                 CASE WHEN c0.is_return AND c0._line IN (SELECT _line FROM rx) THEN 'refund_exceeds'
                      WHEN c0.is_return AND c0.reason IS NULL AND rm.original_order_id IS NULL
                        THEN 'unknown_order'
                      WHEN c0.is_return AND c0.reason IN ('negative_amount', 'duplicate_order')
                        AND rm.original_order_id IS NOT NULL THEN NULL
                      WHEN c0.is_return AND c0.reason IN ('negative_amount', 'duplicate_order')
                        THEN 'unknown_order'
                      ELSE c0.reason END AS reason,
                 CASE WHEN c0.is_return AND c0._line IN (SELECT _line FROM rx)
                        THEN 'refund beyond what is left of order ' || rm.original_order_id
                      WHEN c0.is_return AND rm.original_order_id IS NULL
                        AND (c0.reason IS NULL OR c0.reason IN ('negative_amount', 'duplicate_order'))
                        THEN 'no earlier purchase matches return ' || c0.order_id
                      WHEN c0.is_return AND c0.reason IN ('negative_amount', 'duplicate_order') THEN NULL
                      ELSE c0.detail END AS detail,
                 c0.dup OR (c0.is_return AND c0._line IN (SELECT _line FROM ret_dup)) AS dup)
               FROM c0 LEFT JOIN rm USING (_line)"""
        )

    # -- returns -------------------------------------------------------------------------------------
    def _returns(self) -> Checked:
        m = self.m
        tz = (
            f"coalesce({_lit(m.timezone)}, st.timezone)"
            if m.timezone
            else (f"coalesce(st.timezone, {_lit(self.ref.default_timezone)})")
        )
        refund = _money(_text(m, "refund")) if m.has("refund") else "CAST(NULL AS DECIMAL(18,4))"
        self._exec(
            f"""CREATE TEMP TABLE n AS SELECT _line, {_text(m, "store")} AS store_code,
                {_text(m, "return_id")} AS return_id, {_text(m, "original_order_id")} AS original_order_id,
                {_text(m, "occurred_at")} AS occurred_raw, {_text(m, "refund")} AS refund_raw,
                {refund} AS refund_dec
            FROM src"""
        )
        self._exec(
            f"""CREATE TEMP TABLE w AS SELECT n.*, st.id AS store_id,
                {_ts_utc_us("occurred_raw", self.formats, tz)} AS occurred_us,
                CAST(round(refund_dec * {self.scale}) AS BIGINT) AS refund_minor,
                o.id AS purchase_id, o.total_minor - coalesce(o.refunded_minor, 0) AS refundable,
                row_number() OVER (PARTITION BY n.store_code, n.return_id ORDER BY _line) AS seq,
                sum(CAST(round(refund_dec * {self.scale}) AS BIGINT)) OVER (
                    PARTITION BY n.store_code, n.original_order_id ORDER BY _line) AS running_refund,
                EXISTS (SELECT 1 FROM ref_returns x WHERE x.store_id = st.id AND x.return_id = n.return_id) AS dup
            FROM n LEFT JOIN ref_stores st ON st.code = n.store_code
                   LEFT JOIN ref_orders o ON o.store_id = st.id AND o.order_id = n.original_order_id"""
        )
        checks = [
            ("return_id IS NULL", "'missing_field'", "'return_id is empty'"),
            ("original_order_id IS NULL", "'missing_field'", "'original_order_id is empty'"),
            ("store_code IS NULL", "'missing_field'", "'store is empty'"),
            ("store_id IS NULL", "'unknown_store'", "'store ' || store_code"),
            ("occurred_us IS NULL", "'unparseable_date'", "'occurred_at ' || coalesce(occurred_raw, '')"),
            (f"occurred_us > {self.latest}", "'future_date'", "'occurred_at ' || occurred_raw"),
            ("refund_raw IS NULL", "'missing_field'", "'refund is empty'"),
            (
                _foreign_money("refund_raw", self.ref.currency),
                "'bad_currency'",
                f"'refund ' || refund_raw || ', the programme uses ' || {_lit(self.ref.currency or '')}",
            ),
            ("refund_dec IS NULL", "'bad_amount'", "'refund ' || refund_raw"),
            ("refund_dec < 0", "'negative_amount'", "'refund ' || refund_raw"),
            ("purchase_id IS NULL", "'unknown_order'", "'order ' || original_order_id"),
            ("seq > 1", "'duplicate_return'", "'return ' || return_id"),
            (
                "NOT dup AND running_refund > refundable",
                "'refund_exceeds'",
                "'refund ' || refund_raw || ', refundable ' || CAST(refundable AS VARCHAR)",
            ),
        ]
        reason = "CASE " + " ".join(f"WHEN {c} THEN {r}" for c, r, _ in checks) + " END"
        detail = "CASE " + " ".join(f"WHEN {c} THEN {d}" for c, _, d in checks) + " END"
        self._exec(f"CREATE TEMP TABLE c AS SELECT w.*, {reason} AS reason, {detail} AS detail FROM w")
        return self._finish(
            "c",
            """SELECT _line, store_id, return_id, original_order_id, purchase_id, occurred_us, refund_minor
               FROM c WHERE reason IS NULL AND NOT dup ORDER BY _line""",
        )

    # -- opening balances ----------------------------------------------------------------------------
    def _balances(self) -> Checked:
        m = self.m
        tz = _lit(m.timezone or self.ref.default_timezone)
        self._exec(
            f"""CREATE TEMP TABLE n AS SELECT _line,
                {_key_text(m, "card_no")} AS card_no, {_key_text(m, "member_code")} AS member_code,
                {_text(m, "phone")} AS phone_raw, {_text(m, "points")} AS points_raw,
                try_cast({_text(m, "points")} AS DECIMAL(18,3)) AS points_dec,
                {_text(m, "earned_at")} AS earned_raw, {_text(m, "expires_at")} AS expires_raw
            FROM src"""
        )
        self._phone_table("phone_raw", "n")
        now = f"{self.now_us}" if self.now_us is not None else "epoch_us(now())"
        self._exec(
            f"""CREATE TEMP TABLE w AS SELECT n.*, ph.e164 AS phone_e164,
                {_ts_utc_us("earned_raw", self.formats, tz)} AS earned_parsed,
                coalesce({_ts_utc_us("earned_raw", self.formats, tz)}, {now}) AS earned_us,
                {_ts_utc_us("expires_raw", self.formats, tz)} AS expires_us
            FROM n LEFT JOIN phones ph ON ph.raw = n.phone_raw"""
        )
        self._exec(
            f"""CREATE TEMP TABLE w2 AS SELECT w.*, {self._member_lookup("w")} AS member_id,
                coalesce(card_no, member_code, phone_e164) AS member_key,
                'opening:' || CAST(points_dec AS BIGINT) || ':' || CAST(earned_us AS VARCHAR) || ':'
                    || coalesce(CAST(expires_us AS VARCHAR), '-') AS source_key
            FROM w"""
        )
        checks = [
            (
                "card_no IS NULL AND member_code IS NULL AND phone_raw IS NULL",
                "'missing_field'",
                "'no member key'",
            ),
            ("phone_raw IS NOT NULL AND phone_e164 IS NULL", "'bad_phone'", "'phone ' || phone_raw"),
            ("points_raw IS NULL", "'missing_field'", "'points is empty'"),
            (
                "points_dec IS NULL OR points_dec <> trunc(points_dec) OR points_dec <= 0",
                "'bad_points'",
                "'points ' || points_raw",
            ),
            (
                "earned_raw IS NOT NULL AND earned_parsed IS NULL",
                "'unparseable_date'",
                "'earned_at ' || earned_raw",
            ),
            (
                "expires_raw IS NOT NULL AND expires_us IS NULL",
                "'unparseable_date'",
                "'expires_at ' || expires_raw",
            ),
            (
                "expires_us IS NOT NULL AND expires_us <= earned_us",
                "'bad_expiry'",
                "'expires_at ' || expires_raw",
            ),
            ("member_id IS NULL", "'unknown_member'", "'member ' || member_key"),
        ]
        reason = "CASE " + " ".join(f"WHEN {c} THEN {r}" for c, r, _ in checks) + " END"
        detail = "CASE " + " ".join(f"WHEN {c} THEN {d}" for c, _, d in checks) + " END"
        self._exec(
            f"""CREATE TEMP TABLE c AS SELECT w2.*, {reason} AS reason, {detail} AS detail,
                EXISTS (SELECT 1 FROM ref_balances b WHERE b.member_id = w2.member_id
                        AND b.source_key = w2.source_key)
                OR row_number() OVER (PARTITION BY member_id, source_key ORDER BY _line) > 1 AS dup
            FROM w2"""
        )
        return self._finish(
            "c",
            """SELECT _line, member_id, CAST(points_dec AS BIGINT) AS points, earned_us, expires_us, source_key
               FROM c WHERE reason IS NULL AND NOT dup ORDER BY _line""",
        )


def _take(table: pa.Table, indices: Any) -> pa.Table:
    """`table.take(indices)` a column per thread: Arrow's take is single-threaded, releases the GIL,
    and on ten million lines costs a few seconds per table (almost half as much per column at once)."""
    chosen = pa.array(indices)
    with ThreadPoolExecutor() as pool:
        columns = list(pool.map(lambda c: c.take(chosen), table.columns))
    return pa.Table.from_arrays(columns, schema=table.schema)


def validate(table: pa.Table, mapping: ColumnMap, ref: Reference, **kwargs: Any) -> Checked:
    """Validate `table` (from a reader) as `mapping.kind` against `ref`."""
    return Validator(table, mapping, ref, **kwargs).run()
