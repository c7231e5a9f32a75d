"""What the tests of the analytics pages share (member analytics, clusters, churn, recommendations): the
job a page follows, polled to its end as htmx would; the charts a page draws; and what every such page
shows before its first run, to whom."""

from __future__ import annotations

import json
import re
import time
from html import unescape
from typing import Any

from tests.web.console_client import Console, as_

#: the progress fragment of a job that has not ended asks for itself again every second
POLL = re.compile(r'hx-get="(/console/admin/jobs/(\d+)/progress)" hx-trigger="every 1s"')
#: a chart's spec, which the page's script draws
CHARTS = re.compile(r"data-chart='([^']*)'")


def follow_job(console: Console, html: str) -> str:
    """Poll the page's job fragment as htmx would, until it stops asking (a job that ended before the
    page was made is shown ended, without polling); the last fragment."""
    found = POLL.search(html)
    if found is None:
        return html
    deadline = time.monotonic() + 120
    fragment = html
    while POLL.search(fragment):
        assert time.monotonic() < deadline, "the job did not end"
        time.sleep(0.2)
        response = console.get(found.group(1))
        assert response.status_code == 200
        fragment = response.text
    return fragment


def refresh_and_follow(console: Console, path: str, form: dict[str, str], started: str | None = None) -> str:
    """Post the refresh form of the page at `path`: back to the page (303), which says the job
    `started` (when given) and follows it to its end; the job's last fragment."""
    response = console.post(f"{path}/refresh", form)
    assert (response.status_code, response.headers["location"]) == (303, path)
    page = console.get(path).text
    if started is not None:
        assert started in page
    return follow_job(console, page)


def charts_on(page: str) -> list[dict[str, Any]]:
    """The specs of the charts on `page`."""
    return [json.loads(unescape(c)) for c in CHARTS.findall(page)]


def check_before_any_run(app: Any, path: str, never: str) -> None:
    """Before the first run the page at `path` says `never` to whoever reads the analytics; the refresh
    form is an analyst's (analytics:refresh), not a marketer's (analytics:read); a cashier may not
    see the page."""
    analyst = as_(app, "analyst1").get(path).text
    assert never in analyst
    assert f'action="{path}/refresh"' in analyst
    marketer = as_(app, "marketer1").get(path).text
    assert never in marketer
    assert f'action="{path}/refresh"' not in marketer  # analytics:read, not :refresh
    assert as_(app, "cashier1").get(path).status_code == 403
