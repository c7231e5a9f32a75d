"""Message catalogs: compiled files in step with their sources, every marked string translated."""

from __future__ import annotations

from collections import defaultdict

import pytest

from loyalty.i18n import from_accept_language, normalise, translate, use_locale
from loyalty.i18n.catalogs import compiled, marked_messages, po_files, read_catalog


def test_compiled_catalogs_match_their_sources() -> None:
    stale = [str(po) for po in po_files() if po.with_suffix(".mo").read_bytes() != compiled(po)]
    assert not stale, f"run `python -m loyalty.i18n compile`: {stale}"


def test_every_marked_string_has_a_chinese_translation() -> None:
    catalogs = {po.stem: read_catalog(po) for po in po_files() if po.parent.parent.name == "zh_CN"}
    missing: dict[str, list[str]] = defaultdict(list)
    for domain, message, path, line in marked_messages():
        catalog = catalogs.get(domain)
        entry = catalog.get(message) if catalog is not None else None
        if entry is None or not entry.string or entry.fuzzy:
            missing[domain].append(f"{path.name}:{line}: {message!r}")
    assert not missing, dict(missing)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("en-US,en;q=0.9,zh;q=0.8", "en"),
        ("fr, zh-CN;q=0.5", "zh-CN"),
        ("zh-Hans-CN", "zh-CN"),
        ("en;q=0, zh;q=0.1", "zh-CN"),
        ("fr, de", None),
        ("", None),
        (None, None),
    ],
)
def test_accept_language_picks_the_best_supported(header: str | None, expected: str | None) -> None:
    assert from_accept_language(header) == expected


def test_locale_is_scoped_and_unknown_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOYALTY_LOCALE", "en_US")
    assert normalise("ZH_cn") == "zh-CN"
    with use_locale("fr") as chosen:
        assert chosen == "en"
    with use_locale("zh") as chosen:
        assert chosen == "zh-CN"
        assert translate("cli", "{n} rows", n=3) == "3 rows"  # untranslated: the source string
