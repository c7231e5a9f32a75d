"""The browser tests' screenshots, for a person to look at under var/test-artifacts/.

A full-page screenshot costs about a tenth of a browser test's time, and CI keeps no file of its clean
clone: `.ci/run` turns them off with LOYALTY_TEST_SCREENSHOTS=0. On a developer's machine they are on.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Page

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"


def save(page: Page, folder: str, name: str) -> None:
    """The page as it shows now, whole, as `var/test-artifacts/<folder>/<name>.png` (unless turned off)."""
    if os.environ.get("LOYALTY_TEST_SCREENSHOTS", "1") == "0":
        return
    (ARTIFACTS / folder).mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / folder / f"{name}.png"), full_page=True)
