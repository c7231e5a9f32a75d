"""The anomaly review queue (`/console/anomalies`) through the test client on SQLite and PostgreSQL: the
queue and its filters, a flag's page and its review (CSRF-checked), a suspension lifted, the rules
form with a bad value named beside it, a scan started and followed, and who sees what."""

from __future__ import annotations

import re
import time
from html import unescape

from loyalty.services import anomalies, points
from tests.anomalies.helpers import fresh_flag
from tests.api.api_world import World
from tests.web.console_client import Console, as_

PAGE = "/console/anomalies"
POLL = re.compile(r'hx-get="(/console/admin/jobs/(\d+)/progress)" hx-trigger="every 1s"')


def _text(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", html))


def test_the_queue_a_review_with_suspension_and_its_lifting(world: World) -> None:
    flag_a, member_a = fresh_flag(world.ctx, world.store_a)
    flag_b, _member_b = fresh_flag(world.ctx, world.store_b)
    auditor = as_(world.app, "auditor1")
    queue = auditor.get(PAGE)
    assert queue.status_code == 200
    html = _text(queue.text)
    assert f'id="flag-{flag_a}"' in html
    assert f'id="flag-{flag_b}"' in html
    assert "Earned 1 points on " in html
    assert 'href="/console/anomalies"' in html  # the nav link
    manager = _text(as_(world.app, "store_manager1").get(PAGE).text)
    assert f'id="flag-{flag_a}"' in manager
    assert f'id="flag-{flag_b}"' not in manager
    assert as_(world.app, "store_manager1").get(f"{PAGE}/{flag_b}").status_code == 404
    assert 'href="/console/anomalies"' not in as_(world.app, "cashier1").get("/console").text
    filtered = _text(auditor.get(PAGE, params={"kind": "velocity"}).text)
    assert f'id="flag-{flag_a}"' not in filtered
    assert "No flag matches these filters." in filtered
    assert auditor.get(PAGE, params={"from": "soon"}).status_code == 422

    analyst_view = _text(as_(world.app, "analyst1").get(f"{PAGE}/{flag_a}").text)
    assert 'id="review-form"' not in analyst_view
    assert "Open: an auditor or administrator reviews it." in analyst_view
    page = _text(auditor.get(f"{PAGE}/{flag_a}").text)
    assert 'id="review-form"' in page
    assert "Earned 1 points on " in page
    no_token = auditor.post(f"{PAGE}/{flag_a}/review", {"decision": "approve"}, token=False)
    assert no_token.status_code == 403
    undecided = auditor.post(f"{PAGE}/{flag_a}/review", {"note": "hmm"})
    assert undecided.status_code == 422
    assert "Choose: fraud or false alarm." in undecided.text
    done = auditor.post(f"{PAGE}/{flag_a}/review", {"decision": "approve", "suspend": "1", "note": "a farm"})
    assert (done.status_code, done.headers["location"]) == (303, PAGE)
    flag = anomalies.get_flag(world.ctx, flag_a)
    assert (flag.status, flag.suspended, flag.reviewer_name, flag.note) == (
        "approved",
        True,
        "auditor1",
        "a farm",
    )
    after = _text(auditor.get(PAGE, follow_redirects=True).text)
    assert f"Flag {flag_a} confirmed as fraud; the member's redemptions are suspended." in after
    assert f"/console/anomalies/suspensions/{member_a}/lift" in after
    reviewed = _text(auditor.get(f"{PAGE}/{flag_a}").text)
    assert "Confirmed fraud by auditor1" in reviewed

    lifted = auditor.post(f"/console/anomalies/suspensions/{member_a}/lift", {"note": "ok now"})
    assert lifted.status_code == 303
    assert anomalies.suspension_of(world.ctx, member_a) is None
    assert points.balance(world.ctx, member_a).member_id == member_a


def test_the_rules_form_names_a_bad_value_and_saves_a_good_one(world: World) -> None:
    auditor = as_(world.app, "auditor1")
    page = auditor.get(f"{PAGE}/rules")
    assert page.status_code == 200
    assert 'id="rules-form"' in page.text
    reader = as_(world.app, "analyst1").get(f"{PAGE}/rules").text
    assert 'id="rules-form"' not in reader
    form = {"velocity.shown": "1", "velocity.enabled": "1", "velocity.per_hour": "1"}
    bad = auditor.post(f"{PAGE}/rules", form)
    assert bad.status_code == 422
    assert 'id="velocity-per_hour-error"' in bad.text
    assert "must be between 2 and 1000" in bad.text
    assert anomalies.get_rules(world.ctx)["velocity"]["per_hour"] != 1
    good = auditor.post(f"{PAGE}/rules", {**form, "velocity.per_hour": "9"})
    assert good.status_code == 303
    assert anomalies.get_rules(world.ctx)["velocity"]["per_hour"] == 9
    off = auditor.post(f"{PAGE}/rules", {"velocity.shown": "1", "velocity.per_hour": "9"})
    assert off.status_code == 303
    assert anomalies.get_rules(world.ctx).on("velocity") is False


def test_a_scan_started_from_the_queue_is_followed_to_its_end(world: World) -> None:
    from tests.api.api_world import wait_for_jobs

    wait_for_jobs()
    admin: Console = as_(world.app, "admin1")
    started = admin.post(f"{PAGE}/scan", {})
    assert started.status_code == 303
    html = admin.get(PAGE).text
    found = POLL.search(html)
    deadline = time.monotonic() + 120
    fragment = html
    while found and POLL.search(fragment):
        assert time.monotonic() < deadline, "the scan did not end"
        time.sleep(0.2)
        fragment = admin.get(found.group(1)).text
    wait_for_jobs()
    final = _text(admin.get(PAGE).text)
    assert "new flags" in final
    assert 'href="/console/anomalies"' in final
