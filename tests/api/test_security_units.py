"""Units of the security layer: tokens, passwords, masking, permissions (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from loyalty.api.errors import ApiError
from loyalty.api.security import (
    PERMISSIONS,
    ROLES,
    Principal,
    issue_access_token,
    mask_email,
    mask_phone,
    principal_from_jwt,
)
from loyalty.services.auth import hash_password, verify_password
from tests.conftest import PRODUCT_HASHER

SECRET = "unit-test-secret-key-0123456789-abcdef"
OTHER_SECRET = "another-secret-xxxxxxxx-0123456789abcdef"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _claims(token: str) -> dict[str, object]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def test_access_token_round_trip_keeps_role_and_stores() -> None:
    token, ttl = issue_access_token(SECRET, user_id=7, username="li", role="cashier", store_ids=[3], now=NOW)
    principal = principal_from_jwt(SECRET, token, NOW + timedelta(seconds=ttl - 1))
    assert principal == Principal(kind="staff", id="7", role="cashier", store_ids=frozenset({3}))


def test_chain_wide_roles_are_not_store_scoped() -> None:
    token, _ = issue_access_token(SECRET, user_id=1, username="a", role="analyst", store_ids=[], now=NOW)
    assert principal_from_jwt(SECRET, token, NOW).store_ids is None


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # broken signature
        lambda t: jwt.encode(
            {**jwt.decode(t, options={"verify_signature": False})}, "another-secret-xxxxxxxx-0123456789abcdef"
        ),
        lambda t: jwt.encode(
            {**jwt.decode(t, options={"verify_signature": False}), "role": "member"},
            SECRET,
            algorithm="HS256",
        ),
        lambda t: jwt.encode({**jwt.decode(t, options={"verify_signature": False})}, "", algorithm="none"),
    ],
)
def test_tampered_tokens_are_rejected(tamper) -> None:  # type: ignore[no-untyped-def]
    token, _ = issue_access_token(SECRET, user_id=1, username="a", role="admin", store_ids=[], now=NOW)
    with pytest.raises(ApiError) as info:
        principal_from_jwt(SECRET, tamper(token), NOW)
    assert info.value.status == 401


def test_expired_token_is_rejected_by_the_injected_clock() -> None:
    token, ttl = issue_access_token(SECRET, user_id=1, username="a", role="admin", store_ids=[], now=NOW)
    with pytest.raises(ApiError, match="expired"):
        principal_from_jwt(SECRET, token, NOW + timedelta(seconds=ttl))


def test_password_hash_is_argon2_and_verifies() -> None:
    hashed = hash_password("correct horse")
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "correct horse")
    assert not verify_password(hashed, "wrong horse")
    assert not verify_password("not-a-hash", "x")


def test_the_products_passwords_cost_what_rfc_9106_recommends() -> None:
    """The suite signs in with a cheap argon2id (tests/conftest.py); the product's hasher is this one,
    and a hash of either cost verifies under the other, its parameters being in the hash."""
    strong = PRODUCT_HASHER.hash("correct horse")
    assert strong.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert verify_password(strong, "correct horse")
    assert not verify_password(strong, "wrong horse")
    assert PRODUCT_HASHER.verify(hash_password("correct horse"), "correct horse")


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("+8613812345678", "+86138****5678"),
        ("+14155550123", "+141****0123"),
        ("12345", "***45"),
        (None, None),
    ],
)
def test_mask_phone(phone: str | None, masked: str | None) -> None:
    assert mask_phone(phone) == masked


def test_mask_email() -> None:
    assert mask_email("alice@example.com") == "a***@example.com"
    assert mask_email("broken") == "***"


def test_members_hold_no_staff_permission_and_analysts_never_write() -> None:
    for permission, roles in PERMISSIONS.items():
        assert "member" not in roles, permission
        if permission.endswith((":write", ":manage", ":redeem", ":adjust", ":tokens")):
            assert "analyst" not in roles, permission
            assert "auditor" not in roles, permission
    assert set().union(*PERMISSIONS.values()) <= set(ROLES)


def test_store_scope_checks() -> None:
    cashier = Principal(kind="staff", id="2", role="cashier", store_ids=frozenset({1}))
    cashier.require_store(1)
    with pytest.raises(ApiError):
        cashier.require_store(2)
    with pytest.raises(ApiError):
        cashier.require_store(None)
    Principal(kind="staff", id="1", role="admin").require_store(99)
