"""The member analytics as people read them: the RFM groups, the CLV and P(alive) distributions and
the model's calibration/holdout check from the last refresh (`figures`), and each of those tables
downloaded as CSV or xlsx, audited like an export (`downloads`).

The scores themselves are made by `loyalty.analytics` (`analytics refresh`, or the analytics-refresh
job of `services.jobs`); this package only reads them.
"""

from __future__ import annotations

from loyalty.services.member_analytics.figures import (
    Bin,
    Group,
    Overview,
    Refresh,
    bucket_label,
    overview,
)

__all__ = ["Bin", "Group", "Overview", "Refresh", "bucket_label", "overview"]
