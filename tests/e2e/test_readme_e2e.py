"""End to end: the README's walk-through, run as written against `make run`'s runner.

Every ```sh block of the README's "## Walk-through" section runs, in order, in one bash (so each
block's variables reach the next), in a fresh folder that is the runner's `OC_RUN_DIR` parent:
`.run/platform-key`, `.run/mailbox.txt` and `.run/slack-signing-secret` are this runner's, as they
are a reader's. Three things differ from a reader's terminal, and only these: the runner's free
ports replace the README's 8000, 4566, 4599 and 4598 (the fake Slack and MailChimp); `curl` is given
`--fail-with-body` (an error answer fails the step, as a reader would notice it); and bash runs with
`set -euo pipefail` (any command that fails stops the walk-through there). Each answer the README
shows in a `# {…}` comment must be among the block's answers, in order: every `"key": value` pair it
shows with a plain value (a string without `…`, a number, true, false, null) must be found, at any
depth, in one answer. A comment block that starts with a CSV heading lists lines the block's output
must hold.

The banner's login command and `aws s3 cp` line are run as printed, too."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.conftest import ROOT, _free_port

pytestmark = pytest.mark.e2e

README = ROOT / "README.md"
SECTION = "## Walk-through"
README_API_PORT, README_AWS_PORT = "127.0.0.1:8000", "127.0.0.1:4566"
README_SLACK_PORT, README_MAILCHIMP_PORT = "127.0.0.1:4599", "127.0.0.1:4598"
MARKER = "@@readme-block@@"
PAIR = re.compile(r'"([^"]+)":\s*("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|true|false|null)')
CSV_HEADING = "line,email,outcome,reason"
# curl as the README runs it, but an error answer fails the step and is shown on stderr.
CURL_THAT_FAILS = """curl() {
  local out status=0
  out=$(command curl --fail-with-body --max-time 30 "$@") || status=$?
  printf '%s' "$out"
  [ "$status" = 0 ] || printf '\\ncurl %s\\nfailed (exit %s): %s\\n' "$*" "$status" "$out" >&2
  return "$status"
}"""


@dataclass
class Block:
    number: int
    text: str
    answers: list[str] = field(default_factory=list)  # the `# {…}` comments, in order
    csv_lines: list[str] = field(default_factory=list)


def walk_through_blocks(readme: str) -> list[Block]:
    start = readme.index(f"\n{SECTION}\n")
    end = readme.find("\n## ", start + 1)
    section = readme[start : end if end != -1 else None]
    blocks = []
    for number, text in enumerate(re.findall(r"^```sh\n(.*?)^```$", section, re.M | re.S), start=1):
        block = Block(number, text)
        comments = [line[2:] for line in text.splitlines() if line.startswith("# ")]
        block.answers = [c for c in comments if c.startswith(('{"', "[", "{}"))]
        if CSV_HEADING in comments:
            after = comments[comments.index(CSV_HEADING) :]
            block.csv_lines = after[: next((i for i, c in enumerate(after) if "," not in c), len(after))]
        blocks.append(block)
    return blocks


def json_answers(output: str) -> list[Any]:
    """Every JSON object or array printed, in order (curl prints them without newlines)."""
    decoder, at = json.JSONDecoder(), 0
    found: list[Any] = []
    while True:
        starts = [i for i in (output.find("{", at), output.find("[", at)) if i != -1]
        if not starts:
            return found
        at = min(starts)
        try:
            value, end = decoder.raw_decode(output, at)
        except ValueError:
            at += 1
            continue
        found.append(value)
        at = end


def shown_pairs(answer: str) -> list[tuple[str, Any]]:
    return [(key, json.loads(value)) for key, value in PAIR.findall(answer) if "…" not in value]


def holds(value: Any, key: str, expected: Any) -> bool:
    if isinstance(value, dict):
        if key in value and value[key] == expected:
            return True
        return any(holds(v, key, expected) for v in value.values())
    if isinstance(value, list):
        return any(holds(v, key, expected) for v in value)
    return False


def check_answers(block: Block, output: str) -> None:
    answers, at = json_answers(output), 0
    for shown in block.answers:
        pairs = shown_pairs(shown)
        assert pairs, f"block {block.number}: the README shows an answer with nothing to check: {shown}"
        while at < len(answers) and not all(holds(answers[at], k, v) for k, v in pairs):
            at += 1
        assert at < len(answers), (
            f"block {block.number}: no answer matches the README's\n  {shown}\n"
            f"answers were:\n{json.dumps(answers, indent=1)[:6000]}"
        )
        at += 1
    for line in block.csv_lines:  # curl prints no newline after JSON: a line may follow one
        assert re.search(rf"{re.escape(line)}(\r?\n|$)", output), (
            f"block {block.number}: the output lacks the line {line!r}:\n{output}"
        )


@dataclass
class ReadmeRunner:
    url: str
    aws_url: str
    slack_url: str
    mailchimp_url: str
    work: Path
    log: Path
    env: dict[str, str]


@pytest.fixture(scope="module")
def readme_runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReadmeRunner]:
    """A runner as a reader starts it: `make run` with no setting but free ports (its platform key
    and demo password generated), its `.run/` in the folder the walk-through runs in."""
    work = tmp_path_factory.mktemp("readme")
    port, aws_port, slack_port, mailchimp_port = _free_port(), _free_port(), _free_port(), _free_port()
    log = work / "run.log"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OC_", "AWS_", "SLACK_", "MAILCHIMP_", "SUPPORT_"))
    }
    env.update(
        OC_PORT=str(port),
        OC_AWS_PORT=str(aws_port),
        OC_SLACK_PORT=str(slack_port),
        OC_MAILCHIMP_PORT=str(mailchimp_port),
        OC_RUN_DIR=str(work / ".run"),
    )
    env.update(PYTHONUNBUFFERED="1")
    with log.open("w") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "localdev.run"], cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while not _healthy(url):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the runner did not become healthy:\n{log.read_text()}")
        time.sleep(0.2)
    try:
        fakes = f"http://127.0.0.1:{slack_port}", f"http://127.0.0.1:{mailchimp_port}"
        yield ReadmeRunner(url, f"http://127.0.0.1:{aws_port}", *fakes, work, log, env)
    finally:
        process.terminate()
        process.wait(timeout=20)


def _healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/health", timeout=1).status_code == 200
    except requests.ConnectionError:
        return False


def _shell_env(runner: ReadmeRunner) -> dict[str, str]:
    """The reader's terminal: no OC_/AWS_ settings of ours, the venv's aws CLI on the PATH."""
    env = {
        k: v
        for k, v in runner.env.items()
        if not k.startswith(("OC_", "AWS_", "SLACK_", "MAILCHIMP_", "SUPPORT_"))
    }
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _bash(script: str, runner: ReadmeRunner, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script],
        check=False,  # the caller reports the exit status with the output
        cwd=runner.work,
        env=_shell_env(runner),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _on_runner(text: str, runner: ReadmeRunner) -> str:
    return (
        text.replace(README_API_PORT, runner.url.removeprefix("http://"))
        .replace(README_AWS_PORT, runner.aws_url.removeprefix("http://"))
        .replace(README_SLACK_PORT, runner.slack_url.removeprefix("http://"))
        .replace(README_MAILCHIMP_PORT, runner.mailchimp_url.removeprefix("http://"))
    )


def test_the_readme_walk_through_runs_as_written(readme_runner: ReadmeRunner) -> None:
    assert shutil.which("jq"), "the README's walk-through needs jq (Debian: apt-get install jq)"
    blocks = walk_through_blocks(README.read_text())
    assert len(blocks) >= 8, "the walk-through lost its blocks"
    script = f"set -euo pipefail\n{CURL_THAT_FAILS}\n"
    for block in blocks:
        script += f"echo {MARKER}{block.number}\n{_on_runner(block.text, readme_runner)}\n"
    done = _bash(script + f"echo {MARKER}end\n", readme_runner, timeout=300)
    parts = re.split(rf"{MARKER}(\d+|end)\n", done.stdout)
    outputs = dict(zip(parts[1::2], parts[2::2], strict=True))
    last = list(outputs)[-1] if outputs else "none"
    assert done.returncode == 0 and last == "end", (
        f"the walk-through stopped in block {last} (exit {done.returncode}):\n"
        f"--- its output:\n{outputs.get(last, '')[-3000:]}\n--- stderr:\n{done.stderr[-3000:]}\n"
        f"--- the runner:\n{readme_runner.log.read_text()[-3000:]}"
    )
    for block in blocks:
        check_answers(block, outputs[str(block.number)])


def test_the_banner_commands_work_as_printed(readme_runner: ReadmeRunner) -> None:
    banner = readme_runner.log.read_text()
    login = _command_after(banner, "Log in:")
    answer = _bash(login, readme_runner, timeout=30)
    assert answer.returncode == 0 and json.loads(answer.stdout)["status"] == "ok", answer
    assert "  " not in login.split("-d ", 1)[1], f"stray spaces in the login example: {login}"
    (readme_runner.work / "users.csv").write_text("Email,First Name,Last Name\nbanner@demo.local,Ba,Nner\n")
    drop = _command_after(banner, "Drop files into the bucket (operators):")
    copied = _bash(drop, readme_runner, timeout=60)
    assert copied.returncode == 0 and "upload: ./users.csv" in copied.stdout, copied


def _command_after(banner: str, heading: str) -> str:
    """The indented lines under a heading of the banner: one command, with its continuation."""
    lines = banner.split(f"\n{heading}\n", 1)[1].splitlines()
    return "\n".join(line for line in lines[: lines.index("")] if line.startswith("  "))
