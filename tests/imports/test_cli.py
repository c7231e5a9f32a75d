"""`loyalty import` exit status: 0 all good, 1 anything rejected, 2 file not importable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from loyalty.bootstrap import Context


def _run(ctx: Context, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LOYALTY_DATABASE_URL": ctx.engine.url.render_as_string(hide_password=False)}
    return subprocess.run(
        [sys.executable, "-m", "loyalty.cli", "import", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_exit_codes_and_json_summary(ctx: Context, tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text("手机号;姓名\n13800138000;张三\n", encoding="gb18030")
    bad = tmp_path / "bad.csv"
    bad.write_text("手机号,姓名\n13900139000,李四\nnot-a-phone,王五\n", encoding="utf-8")
    unmappable = tmp_path / "x.csv"
    unmappable.write_text("foo,bar\n1,2\n", encoding="utf-8")

    ok = _run(ctx, "members", str(good), "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["imported"] == 1

    rejected = _run(ctx, "members", str(bad), "--json", "--rejects", str(tmp_path / "rej.csv"))
    assert rejected.returncode == 1
    summary = json.loads(rejected.stdout)
    assert (summary["read"], summary["imported"], summary["rejected"]) == (2, 1, 1)
    assert (tmp_path / "rej.csv").exists()

    assert _run(ctx, "members", str(unmappable)).returncode == 2
    assert _run(ctx, "members", str(tmp_path / "missing.csv")).returncode == 2
