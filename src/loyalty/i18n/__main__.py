"""`python -m loyalty.i18n compile`: compile every `.po` catalog to the `.mo` file beside it."""

from __future__ import annotations

import sys

from loyalty.i18n.catalogs import compile_all

if __name__ == "__main__":
    if sys.argv[1:] != ["compile"]:
        sys.exit("usage: python -m loyalty.i18n compile")
    for path in compile_all():
        print(f"compiled {path}")
