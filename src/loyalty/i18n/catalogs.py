"""Catalog upkeep with Babel (a development-time concern; run time reads `.mo` files with gettext)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from loyalty.i18n import LOCALE_DIR

SOURCE_ROOT = Path(__file__).resolve().parents[1]
_DOMAIN = re.compile(r"""translator\(\s*["'](\w+)["']\s*\)""")
KEYWORDS = {"_": None, "N_": None}


def po_files() -> list[Path]:
    return sorted(LOCALE_DIR.glob("*/LC_MESSAGES/*.po"))


def read_catalog(path: Path) -> Catalog:
    with path.open("rb") as fh:
        return read_po(fh, locale=path.parent.parent.name)


def compiled(path: Path) -> bytes:
    """The `.mo` bytes Babel writes for the `.po` at `path`."""
    buffer = io.BytesIO()
    write_mo(buffer, read_catalog(path), use_fuzzy=False)
    return buffer.getvalue()


def compile_all() -> list[Path]:
    out = []
    for po in po_files():
        mo = po.with_suffix(".mo")
        mo.write_bytes(compiled(po))
        out.append(mo)
    return out


def marked_messages() -> Iterator[tuple[str, str, Path, int]]:
    """(domain, message, file, line) for every `_("…")` in a module that declares `translator("domain")`."""
    for path in sorted(SOURCE_ROOT.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        found = _DOMAIN.search(source)
        if not found:
            continue
        for lineno, message, _comments, _context in extract_from_file("python", str(path), keywords=KEYWORDS):
            if isinstance(message, tuple):
                for part in message:
                    if part:
                        yield found.group(1), part, path, lineno
            elif message:
                yield found.group(1), message, path, lineno
