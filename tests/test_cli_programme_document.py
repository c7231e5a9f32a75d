"""`loyalty programme export|import|validate` and `loyalty programme offers presets`: the whole
programme (rules and offers) as one YAML document from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.test_cli_programme_rules import chain, run

__all__ = ["chain"]


def test_a_whole_programme_from_presets_to_export_and_back(
    chain: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = run(monkeypatch, chain, "programme", "offers", "presets")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines() if not line.startswith(" ")] == [
        "coupon-campaign",
        "ladder",
        "gift-with-purchase",
        "tier-discount",
    ]
    code, out, _ = run(
        monkeypatch,
        chain,
        "programme",
        "offers",
        "presets",
        "ladder",
        "--code",
        "spring",
        "--steps",
        "100:20,300:80",
    )
    assert code == 0
    offer = yaml.safe_load(out)["offers"][0]
    assert (offer["code"], offer["kind"], offer["steps"][1]) == (
        "spring",
        "ladder",
        {"over": "300", "off": "80"},
    )
    code, out, _ = run(monkeypatch, chain, "programme", "rules", "presets", "member-day")
    rules = yaml.safe_load(out)["rules"]
    code, out, err = run(
        monkeypatch, chain, "programme", "offers", "presets", "coupon-campaign", "--code", "c20", "--define"
    )
    assert code == 0, err
    assert out.startswith("c20")
    again = [
        "programme",
        "offers",
        "presets",
        "coupon-campaign",
        "--code",
        "c20",
        "--amount",
        "30",
        "--define",
    ]
    code, _, err = run(monkeypatch, chain, *again)
    assert code == 1
    assert "c20" in err

    whole = {"rules": rules, "offers": [offer]}
    (chain / "programme.yaml").write_text(yaml.safe_dump(whole, allow_unicode=True), encoding="utf-8")
    code, out, _ = run(monkeypatch, chain, "programme", "validate", "programme.yaml")
    assert code == 0
    assert "1" in out
    code, out, _ = run(monkeypatch, chain, "programme", "import", "programme.yaml", "--dry-run")
    assert code == 0
    assert [line.split()[1:3] for line in out.splitlines()[:2]] == [["member-day", "new"], ["spring", "new"]]
    code, out, _ = run(monkeypatch, chain, "programme", "import", "programme.yaml")
    assert code == 0
    code, _, err = run(monkeypatch, chain, "programme", "export", "-o", "exported.yaml")
    assert code == 0
    exported = yaml.safe_load((chain / "exported.yaml").read_text(encoding="utf-8"))
    assert sorted(o["code"] for o in exported["offers"]) == ["c20", "spring"]
    code, out, _ = run(monkeypatch, chain, "programme", "import", "exported.yaml")
    assert code == 0
    assert "unchanged" in out.splitlines()[-1]

    bad = {"offers": [offer | {"steps": [{"over": 100, "off": 200}]}]}
    (chain / "bad.yaml").write_text(yaml.safe_dump(bad), encoding="utf-8")
    code, _, err = run(monkeypatch, chain, "programme", "validate", "bad.yaml")
    assert code == 1
    assert "offers[0].steps[0]" in err
