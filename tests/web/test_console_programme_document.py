"""The offers page's presets and the whole programme's document in the console, on both backends: a
preset picked and filled in shows its offer as YAML, which a marketer checks and imports; the
programme downloads as YAML and imports back unchanged; a bad document is refused beside the box,
naming each field, nothing written."""

from __future__ import annotations

import itertools
from urllib.parse import urlencode

import yaml

from loyalty.services.offers import manage
from tests.api.api_world import World
from tests.web.console_client import as_

_serial = itertools.count(1)


def test_a_preset_is_filled_in_checked_and_imported(world: World) -> None:
    tag = next(_serial)
    marketer = as_(world.app, "marketer1")
    code = f"console-gift-{tag}"
    query = urlencode({"preset": "gift-with-purchase", "code": code, "over": "300", "sku": "MUG"})
    page = marketer.get(f"/console/programme/offers?{query}")
    assert page.status_code == 200, page.text
    assert 'id="preset-form"' in page.text
    assert f"code: {code}" in page.text
    assert "min_spend: &#39;300&#39;" in page.text or "min_spend: '300'" in page.text
    document = yaml.safe_dump({"offers": [{"code": code, "kind": "gift", "automatic": True,
                                           "when": {"skus": ["MUG"], "min_spend": "300"}}]})  # fmt: skip
    checked = marketer.post("/console/programme/import", {"document": document, "action": "check"})
    assert checked.status_code == 200, checked.text
    assert 'id="document-checked"' in checked.text
    assert all(o.offer.code != code for o in manage.list_offers(world.ctx))  # a check writes nothing
    imported = marketer.post("/console/programme/import", {"document": document, "action": "import"})
    assert imported.status_code == 303, imported.text
    assert any(o.offer.code == code for o in manage.list_offers(world.ctx))

    exported = marketer.get("/console/programme.yaml")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("application/yaml")
    again = marketer.post("/console/programme/import", {"document": exported.text, "action": "import"})
    assert again.status_code == 303
    assert "Nothing changed" in marketer.get("/console/programme/offers").text

    bad = marketer.post(
        "/console/programme/import",
        {
            "document": "offers:\n  - {code: x, kind: ladder, steps: [{over: 100, off: 200}]}\n",
            "action": "import",
        },
    )
    assert bad.status_code == 422
    assert "offers[0].steps[0]" in bad.text
    unknown = marketer.get("/console/programme/offers?preset=ladder&steps=100-20")
    assert 'id="preset-errors"' in unknown.text
