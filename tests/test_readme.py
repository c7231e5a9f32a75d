"""The README's commands, in order, work on a fresh clone: a newcomer can follow it line by line.

Every shell block of README.md (a fence with no language, bash, sh, shell, zsh or console) is read in
order, and each `loyalty …` line runs as its own process through the installed `loyalty` script, in a
temporary directory holding a copy of `examples/` (as a clone does), with every LOYALTY_* setting unset
(so the default database, var/loyalty.db, is used) and the proxies pointing at a closed port (nothing
may need the network). A failing command fails the test with its README line and output.

Lines other than `loyalty …`: `make …` is not run (`make test` would run this test, and `make demo`
serves until stopped; `test_first_steps_after_the_demo` runs the demo's own command instead),
`export NAME=VALUE` sets the variable for the lines after it, and `source .venv/bin/activate` is what
running the venv's script already does. Any other command fails the test: a block that cannot run here
(a server, a file the reader does not have) is marked right above its fence with
`<!-- readme-test: skip: why -->`.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SHELL_LANGUAGES = {"", "bash", "sh", "shell", "zsh", "console", "shell-session"}
# What the newcomer types at `loyalty staff create`'s password prompt.
STAFF_PASSWORD = "readme-walk-password-1"
NO_PROXY_URL = "http://127.0.0.1:9"  # the discard port: nothing listens, any request fails at once
FIRST_STEPS = "First steps"

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_HEADING = re.compile(r"^#{1,6}\s+(?P<title>.+?)\s*#*\s*$")
_MARKER = re.compile(r"<!--\s*readme-test:(?P<body>.*?)-->")
_SKIP = re.compile(r"^\s*skip\b[\s:—-]*(?P<reason>.*?)\s*$")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


@dataclass
class Block:
    """A fenced block of README.md: where it starts, its language, its section, and a skip reason."""

    line: int
    language: str
    section: str
    skip: str | None
    body: list[tuple[int, str]] = field(default_factory=list)

    def commands(self) -> list[tuple[int, str]]:
        """(README line, command) for each command, comments dropped and `\\` continuations joined."""
        out: list[tuple[int, str]] = []
        pending: tuple[int, str] | None = None
        for number, raw in self.body:
            text = raw.strip()
            if pending is None:
                if self.language == "console":
                    if not text.startswith("$ "):
                        continue  # output shown in the block, not a command
                    text = text[2:].strip()
                if not text or text.startswith("#"):
                    continue
                pending = (number, "")
            if text.endswith("\\"):
                pending = (pending[0], pending[1] + text[:-1].rstrip() + " ")
                continue
            out.append((pending[0], pending[1] + text))
            pending = None
        if pending is not None:
            out.append(pending)
        return out


def shell_blocks(markdown: str) -> list[Block]:
    """The shell blocks of `markdown`, in order; raises ValueError on a malformed readme-test marker."""
    blocks: list[Block] = []
    section = ""
    last_text = ""  # the last non-blank line outside a block
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            heading = _HEADING.match(lines[i])
            if heading:
                section = heading.group("title")
            if lines[i].strip():
                last_text = lines[i]
            i += 1
            continue
        fence = opening.group("fence")
        language = (opening.group("info").strip().split() or [""])[0].lower()
        skip = None
        marker = _MARKER.search(last_text)
        if marker:
            found = _SKIP.match(marker.group("body"))
            if found is None:
                raise ValueError(f"README.md:{i + 1}: unknown marker {marker.group(0)!r}")
            if not found.group("reason"):
                raise ValueError(f"README.md:{i + 1}: say why the block is skipped: {marker.group(0)!r}")
            skip = found.group("reason")
        block = Block(line=i + 1, language=language, section=section, skip=skip)
        i += 1
        while i < len(lines):
            closing = _FENCE.match(lines[i])
            if closing and _closes(closing, fence):
                break
            block.body.append((i + 1, lines[i]))
            i += 1
        i += 1
        last_text = ""
        if language in SHELL_LANGUAGES:
            blocks.append(block)
    return blocks


def _closes(line: re.Match[str], fence: str) -> bool:
    """A closing fence: the opening's character, at least as long, and nothing after it."""
    found = line.group("fence")
    return found[0] == fence[0] and len(found) >= len(fence) and not line.group("info").strip()


def _loyalty() -> list[str]:
    script = Path(sys.executable).parent / "loyalty"
    if not script.exists():
        pytest.fail(f"no installed `loyalty` script beside {sys.executable}: run `make install`")
    return [str(script)]


def newcomer_env() -> dict[str, str]:
    """The environment of someone who just cloned: no LOYALTY_* settings, no network."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOYALTY_")}
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        env[name] = NO_PROXY_URL
    env.pop("NO_PROXY", None)
    env.pop("no_proxy", None)
    env["LOYALTY_STAFF_PASSWORD"] = STAFF_PASSWORD
    return env


def fresh_clone(tmp_path: Path) -> Path:
    """A working directory with what a clone has beside the installed package: `examples/`."""
    work = tmp_path / "clone"
    work.mkdir()
    shutil.copytree(ROOT / "examples", work / "examples")
    return work


class Walk:
    """Runs README commands one after another in one directory and environment."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd = cwd
        self.env = env
        self.ran: list[str] = []
        self.not_run: list[str] = []

    def run(self, number: int, command: str) -> None:
        where = f"README.md:{number}: {command}"
        try:
            argv = shlex.split(command, comments=True)
        except ValueError as exc:
            pytest.fail(f"{where}: not a shell command ({exc})")
        overrides: dict[str, str] = {}
        while argv and _ASSIGNMENT.match(argv[0]):
            name, _, value = argv.pop(0).partition("=")
            overrides[name] = value
        if not argv:
            self.env.update(overrides)
            return
        program = argv[0]
        if program == "loyalty":
            self._loyalty(where, argv[1:], overrides)
        elif program == "make":
            self.not_run.append(shlex.join(argv))
        elif program == "export":
            for item in argv[1:]:
                name, _, value = item.partition("=")
                self.env[name] = value
        elif program in ("source", ".") and argv[1:] == [".venv/bin/activate"]:
            return
        else:
            pytest.fail(
                f"{where}: this test runs `loyalty` commands only; make the line one, or mark its block "
                "with <!-- readme-test: skip: why --> right above the fence"
            )

    def _loyalty(self, where: str, args: list[str], overrides: dict[str, str]) -> None:
        proc = subprocess.run(
            [*_loyalty(), *args],
            cwd=self.cwd,
            env={**self.env, **overrides},
            input="",
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        self.ran.append(shlex.join(["loyalty", *args]))
        if proc.returncode != 0:
            pytest.fail(
                f"{where}\nexit status {proc.returncode}\n--- stdout ---\n{proc.stdout[-3000:]}"
                f"\n--- stderr ---\n{proc.stderr[-3000:]}",
                pytrace=False,
            )


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_every_readme_command_in_order(tmp_path: Path) -> None:
    walk = Walk(fresh_clone(tmp_path), newcomer_env())
    for block in shell_blocks(README.read_text(encoding="utf-8")):
        if block.skip is None:
            for number, command in block.commands():
                walk.run(number, command)
    # The walk really happened: the extraction cannot quietly find nothing.
    for expected in (
        "loyalty db upgrade",
        "loyalty programme init",
        "loyalty staff create admin --role admin",
        "loyalty apikeys create --store 1",
        "loyalty import purchases examples/sales.csv",
        "loyalty ledger verify",
    ):
        assert expected in walk.ran, (expected, walk.ran)
    assert (walk.cwd / "var" / "loyalty.db").exists()
    assert "make demo" in walk.not_run, walk.not_run


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_first_steps_after_the_demo(tmp_path: Path) -> None:
    """`make demo`, then the next commands: both on the default database, var/loyalty.db."""
    walk = Walk(fresh_clone(tmp_path), newcomer_env())
    demo = ["demo", "--members", "300", "--months", "3", "--no-serve"]
    walk._loyalty("make demo (stand-in)", demo, {})
    assert (walk.cwd / "var" / "loyalty.db").exists()
    first_steps = [b for b in shell_blocks(README.read_text(encoding="utf-8")) if b.section == FIRST_STEPS]
    assert first_steps, f"README.md has no shell block under '## {FIRST_STEPS}'"
    for block in first_steps:
        assert block.skip is None, f"README.md:{block.line}: the first steps must run"
        for number, command in block.commands():
            walk.run(number, command)
    assert "loyalty staff create admin --role admin" in walk.ran


SAMPLE = """\
# Title

```
make demo   # comment
make test
```

## Part

<!-- readme-test: skip: needs a server -->
```bash
curl http://127.0.0.1:8000/
```

~~~sh
loyalty import members \\
    members.csv   # a comment
# a whole-line comment

loyalty jobs run
~~~

```console
$ loyalty ledger verify
{"ok": true}
```

```python
print("not shell")
```

```json
{"not": "shell"}
```
"""


def test_the_extraction_reads_every_kind_of_block() -> None:
    blocks = shell_blocks(SAMPLE)
    assert [(b.language, b.section, b.skip) for b in blocks] == [
        ("", "Title", None),
        ("bash", "Part", "needs a server"),
        ("sh", "Part", None),
        ("console", "Part", None),
    ]
    assert [c for _, c in blocks[0].commands()] == ["make demo   # comment", "make test"]
    assert blocks[2].commands() == [
        (16, "loyalty import members members.csv   # a comment"),
        (20, "loyalty jobs run"),
    ]
    assert [c for _, c in blocks[3].commands()] == ["loyalty ledger verify"]


@pytest.mark.parametrize(
    "marker", ["<!-- readme-test: skip -->", "<!-- readme-test: skip: -->", "<!-- readme-test: skp: x -->"]
)
def test_a_skip_needs_a_reason_and_a_known_marker(marker: str) -> None:
    with pytest.raises(ValueError, match=r"README\.md:2"):
        shell_blocks(f"{marker}\n```\nloyalty jobs run\n```\n")


def test_a_command_the_walk_cannot_run_fails_it(tmp_path: Path) -> None:
    walk = Walk(tmp_path, newcomer_env())
    with pytest.raises(pytest.fail.Exception, match=r"README\.md:7: curl"):
        walk.run(7, "curl http://127.0.0.1:8000/")
    walk.run(8, "export LOYALTY_LOCALE=en")
    assert walk.env["LOYALTY_LOCALE"] == "en"
    with pytest.raises(pytest.fail.Exception, match="exit status 2"):
        walk.run(9, "loyalty points no-such-command")
