"""The marketer's offers on the console, on both backends: an offer defined as YAML (a bad field
refused beside the form, nothing written), shared codes issued and shown once, the offer ended with
a confirmation; readers see the list without the forms."""

from __future__ import annotations

import itertools
import re

from loyalty.services.offers import manage
from tests.api.api_world import World
from tests.web.console_client import as_

_serial = itertools.count(1)
PATH = "/console/programme/offers"


def test_a_marketer_defines_issues_and_ends_an_offer(world: World) -> None:
    code = f"console-offer-{next(_serial)}"
    marketer = as_(world.app, "marketer1")
    bad = marketer.post(PATH, {"yaml": f"code: {code}\nkind: ladder\nsteps: []\n"})
    assert bad.status_code == 422
    assert 'id="offer-errors"' in bad.text
    assert code not in {o.offer.code for o in manage.list_offers(world.ctx)}
    definition = f"code: {code}\nname: 满100减20\nkind: ladder\nsteps:\n  - {{over: 100, off: 20}}\n"
    made = marketer.post(PATH, {"yaml": definition, "max_uses": "50"})
    assert made.status_code == 303, made.text
    page = marketer.get(PATH).text
    assert f"Offer {code} defined." in page
    assert f'id="offer-{code}"' in page
    assert "Spend CN¥100.00, CN¥20.00 off" in page
    keyless = marketer.post(f"{PATH}/{code}/issue", {"count": "3", "max_uses": "2"})
    assert keyless.status_code == 422  # a form not drawn by this page: nothing issued
    assert manage.get_offer(world.ctx, code).issued == 0
    key = re.findall(r'name="issue_key" value="([^"]+)"', page)[0]
    form = {"count": "3", "max_uses": "2", "issue_key": key}
    issued = marketer.post(f"{PATH}/{code}/issue", form)
    assert issued.status_code == 200, issued.text
    codes = re.findall(r"<li>([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})</li>", issued.text)
    assert len(codes) == 3
    assert manage.get_offer(world.ctx, code).issued == 3
    # the same form sent again (a double click, a reload): the same codes, no second batch
    again = marketer.post(f"{PATH}/{code}/issue", form)
    assert again.status_code == 200
    assert re.findall(r"<li>([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})</li>", again.text) == codes
    assert manage.get_offer(world.ctx, code).issued == 3
    other = marketer.post(f"{PATH}/{code}/issue", {**form, "count": "5"})  # the old page, other figures
    assert other.status_code == 422
    assert "The form has expired" in other.text
    assert manage.get_offer(world.ctx, code).issued == 3
    assert re.findall(r'name="issue_key" value="([^"]+)"', again.text)[0] != key  # a fresh form
    assert marketer.post(f"{PATH}/{code}/end", {}).status_code == 422  # not confirmed
    ended = marketer.post(f"{PATH}/{code}/end", {"confirm": "yes"})
    assert ended.status_code == 303
    assert manage.get_offer(world.ctx, code).status == "ended"
    reader = as_(world.app, "analyst1").get(PATH)
    assert reader.status_code == 200
    assert 'id="define-offer"' not in reader.text
    assert codes[0] not in reader.text  # codes are shown once, to whoever issued them
