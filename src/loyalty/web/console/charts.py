"""What the console's KPI pages (the dashboard, store targets) draw: a chart's data for the page's
script beside the same figures as a table, for readers without the picture, and the colours they share."""

from __future__ import annotations

from dataclasses import dataclass, field

#: the charts' colours: the console's brand blue, a lighter blue, and its focus amber (for lines)
BRAND, LIGHT, AMBER = "#0a4f8f", "#7fa7cf", "#b45f06"


@dataclass
class Chart:
    """A chart's data for the script (`spec`, JSON), and the same as a table."""

    key: str
    title: str
    spec: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
