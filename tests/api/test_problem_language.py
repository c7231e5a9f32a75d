"""Problem details in the caller's language: Accept-Language (zh or en), else LOYALTY_LOCALE.

The stable parts (`type`, `code`, `status`, field names) are the same in every language; `title`,
`detail` and each field's `message` are translated, and `Content-Language` says into what.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from loyalty.api.errors import problem_type
from tests.api.api_world import World, purchase_body

V1 = "/api/v1"
MISSING_MEMBER = 2_000_000_000


def _problem(resp: httpx.Response, status: int, code: str, language: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.headers["content-language"] == language
    assert "Accept-Language" in resp.headers["vary"]
    body: dict[str, Any] = resp.json()
    assert body["type"] == problem_type(code)
    assert body["code"] == code
    return body


def _tag(accept_language: str) -> str:
    """The Content-Language an Accept-Language of one supported tag gets back ("zh" → "zh-CN")."""
    return "zh-CN" if accept_language.startswith("zh") else "en"


def _get_missing_member(world: World, **headers: str) -> httpx.Response:
    return world.client.get(f"{V1}/members/{MISSING_MEMBER}", headers={**world.as_("admin"), **headers})


def test_domain_error_follows_accept_language(world: World) -> None:
    zh = _problem(
        _get_missing_member(world, **{"Accept-Language": "zh-CN,zh;q=0.9"}), 404, "MEMBER_NOT_FOUND", "zh-CN"
    )
    en = _problem(
        _get_missing_member(world, **{"Accept-Language": "en-US,en;q=0.8"}), 404, "MEMBER_NOT_FOUND", "en"
    )
    assert zh["detail"] == f"会员 {MISSING_MEMBER} 不存在"
    assert zh["title"] == "会员不存在"
    assert en["detail"] == f"member {MISSING_MEMBER} does not exist"
    assert en["title"] == "Member not found"
    assert zh["member_id"] == en["member_id"] == MISSING_MEMBER  # details stay as they are


def test_without_a_usable_header_the_configured_locale_decides(
    world: World, locale: Callable[[str], None]
) -> None:
    en = _problem(_get_missing_member(world), 404, "MEMBER_NOT_FOUND", "en")  # the suite runs in en
    assert en["detail"] == f"member {MISSING_MEMBER} does not exist"
    locale("zh-CN")
    zh = _problem(_get_missing_member(world), 404, "MEMBER_NOT_FOUND", "zh-CN")
    assert zh["detail"] == f"会员 {MISSING_MEMBER} 不存在"
    # a header naming neither language leaves the choice to LOYALTY_LOCALE; one naming English wins
    fr = _problem(
        _get_missing_member(world, **{"Accept-Language": "fr-FR"}), 404, "MEMBER_NOT_FOUND", "zh-CN"
    )
    assert fr["detail"] == zh["detail"]
    en = _problem(_get_missing_member(world, **{"Accept-Language": "en"}), 404, "MEMBER_NOT_FOUND", "en")
    assert en["title"] == "Member not found"


def test_field_errors_of_domain_errors_are_translated(world: World) -> None:
    def register(language: str) -> dict[str, Any]:
        resp = world.client.post(
            f"{V1}/members",
            json={"phone": "+86 12345", "name": "张三", "registration_store_id": world.store_a},
            headers={**world.as_("admin"), "Accept-Language": language},
        )
        return _problem(resp, 422, "PHONE_INVALID", language)

    zh, en = register("zh-CN"), register("en")
    assert [e["field"] for e in zh["errors"]] == [e["field"] for e in en["errors"]] == ["phone"]
    assert en["errors"][0]["message"] == "'+86 12345' is not a valid phone number"
    assert zh["errors"][0]["message"] == "'+86 12345' 不是有效的手机号"
    assert zh["detail"] == zh["errors"][0]["message"]
    assert zh["title"] == "手机号无效"


def test_validation_errors_are_translated_with_their_values(world: World) -> None:
    body = purchase_body(world.store_a, None, "")
    body["lines"][0]["quantity"] = 0
    body["lines"][1]["unit_price"] = "1.005"  # finer than a fen: refused by the model's own validator
    del body["occurred_at"]

    def post(language: str) -> dict[str, Any]:
        headers = {**world.as_("pos"), "Accept-Language": language}
        return _problem(
            world.client.post(f"{V1}/purchases", json=body, headers=headers),
            422,
            "VALIDATION_FAILED",
            _tag(language),
        )

    zh, en = post("zh"), post("en")
    zh_by_field = {e["field"]: e["message"] for e in zh["errors"]}
    en_by_field = {e["field"]: e["message"] for e in en["errors"]}
    assert set(zh_by_field) == set(en_by_field)
    assert zh_by_field["occurred_at"] == "缺少必填字段"
    assert en_by_field["occurred_at"] == "Field required"
    assert zh_by_field["lines.0.quantity"] == "应大于或等于 1"
    assert en_by_field["lines.0.quantity"] == "Input should be greater than or equal to 1"
    assert zh["title"] == "校验失败"
    assert zh["detail"] == "请求中有无效字段。"
    assert en["detail"] == "The request has invalid fields."


def test_sub_minor_amount_names_its_line_in_either_language(world: World) -> None:
    body = purchase_body(world.store_a, None, "o-sub-minor", price="1.005")

    def post(language: str) -> dict[str, str]:
        headers = {**world.as_("pos"), "Accept-Language": language}
        problem = _problem(
            world.client.post(f"{V1}/purchases", json=body, headers=headers),
            422,
            "VALIDATION_FAILED",
            _tag(language),
        )
        return {e["field"]: e["message"] for e in problem["errors"]}

    assert post("en") == {"lines.0.unit_price": "1.005 has more than 2 decimals for CNY"}
    assert post("zh-CN") == {"lines.0.unit_price": "1.005 的小数位超过 CNY 允许的 2 位"}


def test_api_layer_errors_translate_their_words(world: World) -> None:
    def revoke(language: str) -> dict[str, Any]:
        resp = world.client.delete(
            f"{V1}/api-keys/{MISSING_MEMBER}", headers={**world.as_("admin"), "Accept-Language": language}
        )
        return _problem(resp, 404, "API_KEY_NOT_FOUND", _tag(language))

    assert revoke("en")["detail"] == "API key not found."
    assert revoke("zh")["detail"] == "API 密钥不存在。"
    unknown = world.client.get(f"{V1}/no-such-route", headers={"Accept-Language": "zh-CN"})
    assert _problem(unknown, 404, "NOT_FOUND", "zh-CN")["title"] == "未找到"


def test_successful_responses_carry_no_language(world: World) -> None:
    resp = world.client.get(
        f"{V1}/members/{world.member_a['id']}", headers={**world.as_("admin"), "Accept-Language": "zh"}
    )
    assert resp.status_code == 200
    assert "content-language" not in resp.headers
