"""The analyst's page (`/console/analytics`): the RFM grid with its eight named groups, the CLV and
P(alive) distributions, the model's calibration/holdout check, each table downloadable as CSV or
xlsx (audited like an export), and a refresh that runs as a job whose progress the page follows.

The figures come from `services.member_analytics` (SQL aggregates over the stored scores) and the
refresh from `services.jobs`; a download is a POST with the session's CSRF token, since it leaves a
row in the audit log.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from loyalty.i18n import translator
from loyalty.services import jobs as jobs_service
from loyalty.services import member_analytics
from loyalty.services.member_analytics import downloads
from loyalty.web.console.analytics_view import analytics_view, group_rows
from loyalty.web.console.jobs import actor_of, start_job, with_job
from loyalty.web.pages import ConsoleRoute, StaffForm, StaffPage

_ = translator("web")

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

ANALYTICS_PATH = "/console/analytics"


@router.get("/analytics")
def analytics_page(page: StaffPage) -> Response:
    """The figures of the last refresh, and the refresh itself: running (its progress), or the last one."""
    page.require("analytics:read")
    figures = member_analytics.overview(page.ctx)
    values = {
        "view": analytics_view(figures),
        "groups": group_rows(figures),
        "o": figures,
        "tables": downloads.TABLES,
    }
    return with_job(page, "console/analytics.html", jobs_service.ANALYTICS_REFRESH, values)


@router.post("/analytics/refresh")
def refresh(page: StaffPage, form: StaffForm) -> Response:
    """Start the analytics refresh (a job); the page then follows its progress."""
    return start_job(page, jobs_service.ANALYTICS_REFRESH, ANALYTICS_PATH)


@router.post("/analytics/download")
def download(page: StaffPage, form: StaffForm) -> Response:
    """One of the page's tables as a CSV or xlsx file, recorded in the audit log."""
    page.require("analytics:read")
    table = str(form.get("table") or "")
    fmt = str(form.get("format") or "")
    try:
        done = downloads.download(page.ctx, table, fmt, actor=actor_of(page))
    except downloads.ExportUnavailable as exc:
        return page.redirect(ANALYTICS_PATH, flash=exc.localized(page.locale), kind="error")
    return Response(
        done.content,
        media_type=done.media_type,
        headers={"Content-Disposition": f'attachment; filename="{done.filename}"'},
    )
