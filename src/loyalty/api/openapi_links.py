"""OpenAPI links: which answer gives the ids the next call takes.

A till registers or looks up a member, posts the sale with the member's id, then posts a return with
the sale's store and order id; the back office follows a member to their points and statement. The
published schema says so with OpenAPI links (`responses.<status>.links`), which the interactive docs
show and tools that chain calls (schemathesis' stateful tests, client generators) follow. Routes are
named here by method and path and resolved to their operation ids when the schema is built, so a
renamed handler cannot leave a link pointing nowhere (an unknown route fails the build).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Link:
    """From the `status` answer of `source` to a call of `target` with values taken from that answer."""

    name: str
    target: tuple[str, str]
    parameters: dict[str, str] = field(default_factory=dict)
    body: dict[str, str] | None = None
    description: str = ""


def _member_links(member_id: str) -> list[Link]:
    """What may follow an answer that carries a member: its profile, points, tier, a sale, a grant."""
    return [
        Link("GetMember", ("GET", "/api/v1/members/{member_id}"), {"member_id": member_id}),
        Link("UpdateMember", ("PATCH", "/api/v1/members/{member_id}"), {"member_id": member_id}),
        Link("GetMemberPoints", ("GET", "/api/v1/members/{member_id}/points"), {"member_id": member_id}),
        Link(
            "GetMemberStatement",
            ("GET", "/api/v1/members/{member_id}/points/statement"),
            {"member_id": member_id},
        ),
        Link("GetMemberTier", ("GET", "/api/v1/members/{member_id}/tier"), {"member_id": member_id}),
        Link(
            "GetMemberPurchases", ("GET", "/api/v1/members/{member_id}/purchases"), {"member_id": member_id}
        ),
        Link("IssueMemberToken", ("POST", "/api/v1/members/{member_id}/tokens"), {"member_id": member_id}),
        Link(
            "PostPurchase",
            ("POST", "/api/v1/purchases"),
            body={"member_id": member_id, "store_id": "$response.body#/registration_store_id"},
            description="A sale for this member at the store they registered at.",
        ),
        Link("AdjustPoints", ("POST", "/api/v1/points/adjust"), body={"member_id": member_id}),
    ]


MEMBER = "$response.body#/id"

#: (method, path, status) of the answer → the calls that may follow it
LINKS: dict[tuple[str, str, str], list[Link]] = {
    ("POST", "/api/v1/members", "201"): _member_links(MEMBER),
    ("GET", "/api/v1/members/lookup", "200"): _member_links(MEMBER),
    ("GET", "/api/v1/members/{member_id}", "200"): _member_links(MEMBER),
    ("PATCH", "/api/v1/members/{member_id}", "200"): _member_links(MEMBER),
    ("POST", "/api/v1/purchases", "201"): [
        Link(
            "GetPurchase", ("GET", "/api/v1/purchases/{purchase_id}"), {"purchase_id": "$response.body#/id"}
        ),
        Link(
            "PostReturn",
            ("POST", "/api/v1/returns"),
            body={"store_id": "$response.body#/store_id", "order_id": "$response.body#/order_id"},
            description="A return against this sale at its store.",
        ),
        Link(
            "ClaimPurchase",
            ("POST", "/api/v1/purchases/claims"),
            body={"store_id": "$response.body#/store_id", "order_id": "$response.body#/order_id"},
            description="Attach a member to this sale when it was anonymous.",
        ),
        Link(
            "RedeemPoints",
            ("POST", "/api/v1/points/redeem"),
            body={"member_id": "$response.body#/member_id", "store_id": "$response.body#/store_id"},
        ),
        Link(
            "GetBuyerStatement",
            ("GET", "/api/v1/members/{member_id}/points/statement"),
            {"member_id": "$response.body#/member_id"},
        ),
    ],
    ("POST", "/api/v1/returns", "201"): [
        Link(
            "GetReturnedPurchase",
            ("GET", "/api/v1/purchases/{purchase_id}"),
            {"purchase_id": "$response.body#/purchase_id"},
        ),
    ],
    ("POST", "/api/v1/points/redeem", "201"): [
        Link(
            "GetRedeemerStatement",
            ("GET", "/api/v1/members/{member_id}/points/statement"),
            {"member_id": "$response.body#/member_id"},
        ),
    ],
    ("POST", "/api/v1/merchants", "201"): [
        Link("CreateStore", ("POST", "/api/v1/stores"), body={"merchant_id": "$response.body#/id"}),
    ],
    ("POST", "/api/v1/stores", "201"): [
        Link(
            "CreateApiKey", ("POST", "/api/v1/stores/{store_id}/api-keys"), {"store_id": "$response.body#/id"}
        ),
        Link(
            "ListApiKeys", ("GET", "/api/v1/stores/{store_id}/api-keys"), {"store_id": "$response.body#/id"}
        ),
    ],
    ("POST", "/api/v1/stores/{store_id}/api-keys", "201"): [
        Link("RevokeApiKey", ("DELETE", "/api/v1/api-keys/{key_pk}"), {"key_pk": "$response.body#/id"}),
    ],
    ("POST", "/api/v1/staff", "201"): [
        Link("UpdateStaff", ("PATCH", "/api/v1/staff/{user_id}"), {"user_id": "$response.body#/id"}),
    ],
    ("GET", "/api/v1/me/purchases", "200"): [
        Link(
            "GetMyPurchase",
            ("GET", "/api/v1/me/purchases/{purchase_id}"),
            {"purchase_id": "$response.body#/items/0/id"},
            description="The newest receipt of the page.",
        ),
    ],
}


def add_links(schema: dict[str, Any]) -> None:
    """Write `LINKS` into an OpenAPI document, each target named by its operation id.

    Raises KeyError naming the route when a source or target is not in the document.
    """
    paths = schema["paths"]

    def operation(method: str, path: str) -> dict[str, Any]:
        try:
            found: dict[str, Any] = paths[path][method.lower()]
        except KeyError:
            raise KeyError(f"an OpenAPI link names {method} {path}, which the API does not serve") from None
        return found

    for (method, path, status), links in LINKS.items():
        responses = operation(method, path).setdefault("responses", {})
        target_links = responses.setdefault(status, {"description": "Successful Response"}).setdefault(
            "links", {}
        )
        for link in links:
            entry: dict[str, Any] = {"operationId": operation(*link.target)["operationId"]}
            if link.parameters:
                entry["parameters"] = dict(link.parameters)
            if link.body:
                entry["requestBody"] = dict(link.body)
            if link.description:
                entry["description"] = link.description
            target_links[link.name] = entry
