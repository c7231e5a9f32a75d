"""Message catalogs: compiled files in step with their sources, every marked string translated."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from loyalty.i18n import from_accept_language, normalise, translate, use_locale
from loyalty.i18n.catalogs import (
    compiled,
    error_codes,
    error_templates,
    marked_messages,
    po_files,
    read_catalog,
)


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


def _chinese() -> dict[str, Any]:
    return {po.stem: read_catalog(po) for po in po_files() if po.parent.parent.name == "zh_CN"}


def _translated(catalog: Any, message: str) -> bool:
    entry = catalog.get(message) if catalog is not None else None
    return entry is not None and bool(entry.string) and not entry.fuzzy


def test_every_error_message_is_a_template_with_a_chinese_translation() -> None:
    """Each message given to a DomainError (or `InvalidInput.field`, `field_error`, an API problem) is a
    plain literal template, so it can be looked up, and the errors/api catalog has its Chinese."""
    catalogs = _chinese()
    problems = []
    for domain, template, path, line in error_templates():
        if template is None:
            problems.append(f"{path.name}:{line}: an f-string or expression; write a template with values")
        elif not _translated(catalogs.get(domain), template):
            problems.append(f"{path.name}:{line}: no Chinese in {domain}.po for {template!r}")
    assert not problems, "\n".join(problems)


def test_every_error_code_has_a_chinese_title() -> None:
    """Problem titles are per code ("POINTS_INSUFFICIENT" → "Points insufficient" → 积分不足)."""
    from loyalty.api.errors import title_of

    catalog = _chinese()["api"]
    missing = sorted(
        {
            f"{code} ({path.name}:{line})"
            for code, path, line in error_codes()
            if not _translated(catalog, title_of(code))
        }
    )
    assert not missing, missing


def test_error_template_check_sees_every_form(tmp_path: Path) -> None:
    """The walk finds the templates of each form of error (subclasses of subclasses too) and flags
    f-strings, which no catalog can hold."""
    (tmp_path / "mod.py").write_text(
        "class Mine(NotFound):\n"
        "    default_code = 'MINE_NOT_FOUND'\n"
        "def f(x):\n"
        "    raise Mine('MINE_NOT_FOUND', 'mine {x} is gone', {'x': x})\n"
        "def g(x):\n"
        "    raise InvalidInput.field('x', f'bad {x}', 'X_INVALID')\n"
        "def h(x):\n"
        "    return [field_error('y', 'y is wrong'), {'field': 'z', 'message': 'z is wrong'}]\n",
        encoding="utf-8",
    )
    (tmp_path / "errors.py").write_text(
        "class NotFound(DomainError): pass\nclass InvalidInput(DomainError): pass\n", encoding="utf-8"
    )
    found = {(domain, message, line) for domain, message, _, line in error_templates(tmp_path)}
    assert found == {
        ("errors", "mine {x} is gone", 4),
        ("errors", None, 6),
        ("errors", "y is wrong", 8),
        ("errors", "z is wrong", 8),
    }


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


def test_any_field_name_can_be_filled() -> None:
    """`message`, `locale` and `domain` are ordinary fields of a template, not the function's own."""
    from loyalty.i18n import translator

    _ = translator("cli")
    assert _("{message} / {locale} / {domain}", message="m", locale="l", domain="d") == "m / l / d"
    assert translate("cli", "{message}", "en", message="m") == "m"


def _msgids(text: str) -> list[str]:
    """The msgids of a .po file as written (continuation lines joined), the header's empty one left out."""
    ids: list[str] = []
    current: list[str] | None = None
    for line in [*text.splitlines(), ""]:
        if line.startswith("msgid "):
            current = [line[len("msgid ") :]]
        elif current is not None and line.startswith('"'):
            current.append(line)
        elif current is not None:
            joined = "".join(part.strip()[1:-1] for part in current)
            if joined:
                ids.append(joined)
            current = None
    return ids


def test_no_message_is_in_a_catalog_twice() -> None:
    """Babel keeps one of two entries with the same msgid without a word: several people append to
    these files, so a second translation of a message would silently lose one of them."""
    twice = {}
    for po in po_files():
        ids = _msgids(po.read_text(encoding="utf-8"))
        repeated = sorted({m for m in ids if ids.count(m) > 1})
        if repeated:
            twice[po.name] = repeated
    assert not twice, twice
    assert _msgids('msgid ""\nmsgstr ""\n\nmsgid "a"\nmsgstr "x"\n\nmsgid ""\n"a"\nmsgstr "y"\n') == [
        "a",
        "a",
    ]
