"""The suite's warning policy (pyproject.toml, [tool.pytest.ini_options] filterwarnings).

A warning raised by our own code fails the test that raised it, so a deprecation we cause is fixed
when it appears instead of scrolling past among thousands. The few third-party warnings that are
ignored are ignored only when they come from the module named in the filter.
"""

from __future__ import annotations

import warnings

import pytest


def _warn_from(module: str, message: str, category: type[Warning] = DeprecationWarning) -> None:
    """Raise `message` as if `module` had called `warnings.warn` (the filters match on that name)."""
    warnings.warn_explicit(
        message, category, filename=f"{module.replace('.', '/')}.py", lineno=1, module=module
    )


@pytest.mark.parametrize("module", ["loyalty.analytics.features", "loyalty.api.app", "tests.test_x"])
@pytest.mark.parametrize("category", [DeprecationWarning, UserWarning, RuntimeWarning, ResourceWarning])
def test_a_warning_from_our_code_fails(module: str, category: type[Warning]) -> None:
    with pytest.raises(category):
        _warn_from(module, "something we do is deprecated", category)


def test_a_plain_warnings_warn_here_fails() -> None:
    with pytest.raises(UserWarning, match="ours"):
        warnings.warn("ours", UserWarning, stacklevel=1)


def test_the_ignored_third_party_warnings_are_ignored_only_from_their_module() -> None:
    ibis_pandas = "The 'future.infer_string' option is deprecated and will be removed in pandas 4.0."
    _warn_from("ibis.formats.pandas", ibis_pandas)  # ignored: nothing raised
    _warn_from("lifetimes.utils", "anything lifetimes deprecates")
    _warn_from("pyspark.sql.pandas.types", "The copy keyword is deprecated and will be removed")
    _warn_from(
        "fastapi.testclient",
        "Using `httpx` with `starlette.testclient` is deprecated; install `httpx2` instead.",
        UserWarning,
    )
    _warn_from("psycopg._connection_base", "<Connection> was deleted while still open.", ResourceWarning)
    with pytest.raises(DeprecationWarning):
        _warn_from("loyalty.analytics.features", ibis_pandas)  # the same text from us is an error
    with pytest.raises(ResourceWarning):
        _warn_from("loyalty.db.engine", "<Connection> was deleted while still open.", ResourceWarning)
    with pytest.raises(DeprecationWarning):
        _warn_from("ibis.formats.pandas", "another deprecation in ibis is not ignored")
