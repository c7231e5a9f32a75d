"""Catalog upkeep with Babel (a development-time concern; run time reads `.mo` files with gettext)."""

from __future__ import annotations

import ast
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from loyalty.i18n import LOCALE_DIR

SOURCE_ROOT = Path(__file__).resolve().parents[1]
_DOMAIN = re.compile(r"""(?:translator|marker)\(\s*["'](\w+)["']\s*\)""")
KEYWORDS = {"_": None, "N_": None}
_STAMP = datetime(2000, 1, 1, tzinfo=UTC)


def po_files() -> list[Path]:
    return sorted(LOCALE_DIR.glob("*/LC_MESSAGES/*.po"))


def read_catalog(path: Path) -> Catalog:
    with path.open("rb") as fh:
        return read_po(fh, locale=path.parent.parent.name)


def compiled(path: Path) -> bytes:
    """The `.mo` bytes Babel writes for the `.po` at `path`."""
    catalog = read_catalog(path)
    # Babel stamps a catalog without a POT-Creation-Date with the current minute, which would make the
    # .mo differ from one compile to the next: a fixed stamp keeps it a pure function of the .po.
    catalog.creation_date = _STAMP
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    return buffer.getvalue()


def compile_all() -> list[Path]:
    out = []
    for po in po_files():
        mo = po.with_suffix(".mo")
        mo.write_bytes(compiled(po))
        out.append(mo)
    return out


def marked_messages() -> Iterator[tuple[str, str, Path, int]]:
    """(domain, message, file, line) for every `_("…")`/`N_("…")` in a module that declares
    `translator("domain")` or `marker("domain")`."""
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
    yield from template_messages()


#: the web pages' templates, whose `{{ _("…") }}` belong to the `web` catalog
TEMPLATE_ROOT = SOURCE_ROOT / "web" / "templates"
TEMPLATE_DOMAIN = "web"


def template_messages(root: Path = TEMPLATE_ROOT) -> Iterator[tuple[str, str, Path, int]]:
    """(domain, message, file, line) for every `_("…")` in a Jinja2 template (Jinja's own extractor)."""
    options = {"trim_blocks": "true", "lstrip_blocks": "true"}
    for path in sorted(root.rglob("*.html")):
        found = extract_from_file("jinja2.ext:babel_extract", str(path), keywords=KEYWORDS, options=options)
        for lineno, message, _comments, _context in found:
            parts = message if isinstance(message, tuple) else (message,)
            for part in parts:
                if part:
                    yield TEMPLATE_DOMAIN, part, path, lineno


# Messages that are translated where they are shown rather than where they are written: the English
# template passed to an error (filled from its details/values at the edge). (argument index, keyword,
# catalog) per callable; every DomainError subclass takes its template second, in the errors catalog.
MESSAGE_ARGUMENTS: dict[str, tuple[int, str, str]] = {
    "field": (1, "message", "errors"),  # InvalidInput.field(field, message, code, values)
    "field_error": (1, "message", "errors"),
    "ApiError": (2, "detail", "api"),
    "unauthenticated": (0, "detail", "api"),
    "forbidden": (0, "detail", "api"),
    "problem_response": (2, "detail", "api"),
    "not_found": (0, "what", "api"),
}


def _error_classes(trees: list[ast.Module]) -> set[str]:
    """Names of every class deriving (directly or not) from DomainError in the sources."""
    found = {"DomainError"}
    classes = [node for tree in trees for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]
    grew = True
    while grew:
        grew = False
        for cls in classes:
            bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in cls.bases}
            if cls.name not in found and bases & found:
                found.add(cls.name)
                grew = True
    return found


def _message_argument(call: ast.Call, error_classes: set[str]) -> tuple[ast.expr, str] | None:
    func = call.func
    if isinstance(func, ast.Name) and func.id in error_classes:
        index, keyword, domain = 1, "message", "errors"
    elif isinstance(func, ast.Attribute) and func.attr == "field":
        if not (isinstance(func.value, ast.Name) and func.value.id in error_classes):
            return None
        index, keyword, domain = MESSAGE_ARGUMENTS["field"]
    else:
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        if name not in MESSAGE_ARGUMENTS or name == "field":
            return None
        index, keyword, domain = MESSAGE_ARGUMENTS[name]
    if len(call.args) > index and not any(isinstance(a, ast.Starred) for a in call.args[: index + 1]):
        return call.args[index], domain
    for kw in call.keywords:
        if kw.arg == keyword:
            return kw.value, domain
    return None


def error_templates(root: Path = SOURCE_ROOT) -> Iterator[tuple[str, str | None, Path, int]]:
    """(catalog, template, file, line) for each message given to an error; template None: not a literal.

    Covers DomainError subclasses, `InvalidInput.field`, `field_error`, `{"field": …, "message": "…"}`
    entries and the API's problem helpers. A template must be a plain string literal (an f-string
    cannot be looked up in a catalog); a variable is the caller's business and is skipped.
    """
    paths = sorted(root.rglob("*.py"))
    trees = [ast.parse(p.read_text(encoding="utf-8"), str(p)) for p in paths]
    error_classes = _error_classes(trees)
    for path, tree in zip(paths, trees, strict=True):
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                found = _message_argument(node, error_classes)
                if found is None:
                    continue
                arg, domain = found
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    yield domain, arg.value, path, arg.lineno
                elif isinstance(arg, ast.JoinedStr | ast.BinOp) or (
                    isinstance(arg, ast.Call) and getattr(arg.func, "attr", "") == "format"
                ):
                    yield domain, None, path, arg.lineno
            elif isinstance(node, ast.Dict):
                keys = [k.value if isinstance(k, ast.Constant) else None for k in node.keys]
                if "field" in keys and "message" in keys:
                    value = node.values[keys.index("message")]
                    domain = "api" if "api" in path.relative_to(root).parts else "errors"
                    if isinstance(value, ast.Constant) and isinstance(value.value, str):
                        yield domain, value.value, path, value.lineno
                    elif isinstance(value, ast.JoinedStr):
                        yield domain, None, path, value.lineno


# (argument index, keyword) of the stable error code per callable that takes one.
CODE_ARGUMENTS: dict[str, tuple[int, str]] = {
    "field": (2, "code"),
    "ApiError": (1, "code"),
    "problem_response": (1, "code"),
    "_plain": (1, "code"),
}


def error_codes() -> Iterator[tuple[str, Path, int]]:
    """(code, file, line) for every literal error code: the problems' titles are translated per code.

    Codes of DomainError subclasses (first argument, `default_code`), of `InvalidInput.field`, of the
    API's `ApiError`/`problem_response`, the HTTP statuses the API names, and `not_found("API key")`'s.
    """
    paths = sorted(SOURCE_ROOT.rglob("*.py"))
    trees = [ast.parse(p.read_text(encoding="utf-8"), str(p)) for p in paths]
    error_classes = _error_classes(trees)
    for path, tree in zip(paths, trees, strict=True):
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "default_code" for t in node.targets
            ):
                if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                    yield node.value.value, path, node.lineno
            elif isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "_STATUS_CODES":
                if isinstance(node.value, ast.Dict):  # the HTTP statuses the API names itself
                    for value in node.value.values:
                        if isinstance(value, ast.Constant) and isinstance(value.value, str):
                            yield value.value, path, value.lineno
            elif isinstance(node, ast.Call):
                yield from _call_codes(node, error_classes, path)


def _call_codes(call: ast.Call, error_classes: set[str], path: Path) -> Iterator[tuple[str, Path, int]]:
    func = call.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
    if name == "not_found" and call.args:
        what = call.args[0]
        if isinstance(what, ast.Constant) and isinstance(what.value, str):
            yield what.value.upper().replace(" ", "_") + "_NOT_FOUND", path, call.lineno
        return
    if isinstance(func, ast.Name) and func.id in error_classes:
        index, keyword = 0, "code"
    elif name == "field" and isinstance(func, ast.Attribute):
        if not (isinstance(func.value, ast.Name) and func.value.id in error_classes):
            return
        index, keyword = CODE_ARGUMENTS["field"]
    elif name in CODE_ARGUMENTS and name != "field":
        index, keyword = CODE_ARGUMENTS[name]
    else:
        return
    arg: ast.expr | None = call.args[index] if len(call.args) > index else None
    for kw in call.keywords:
        if kw.arg == keyword:
            arg = kw.value
    if arg is None and name == "field":
        yield "INVALID_INPUT", path, call.lineno
    elif isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        yield arg.value, path, call.lineno
    elif isinstance(arg, ast.IfExp):
        for branch in (arg.body, arg.orelse):
            if isinstance(branch, ast.Constant) and isinstance(branch.value, str):
                yield branch.value, path, call.lineno
