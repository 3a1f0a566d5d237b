"""`make run`'s state folder (`OC_RUN_DIR`, by default `.run/` in the project): what a person in
another terminal needs from this run, readable by its owner alone. `platform-key` holds the
operator's key (the README's walk-through reads it), `mailbox.txt` every email printed. A new
run starts it afresh; Ctrl-C removes the key."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLATFORM_KEY = "platform-key"
MAILBOX = "mailbox.txt"
SLACK_SIGNING_SECRET = "slack-signing-secret"  # noqa: S105 - a file's name


def folder() -> Path:
    return Path(os.environ.get("OC_RUN_DIR") or ROOT / ".run")


def shown(name: str) -> str:
    """The file's path as a person in the project folder would type it."""
    path = folder() / name
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


_started: list[Path] = []  # the folder this process started, if it is make run's


def start(platform_key: str, slack_signing_secret: str | None = None) -> None:
    """A fresh folder for this run: the key (mode 600), an empty mailbox, and with the fake
    Slack its signing secret (to sign Events API requests by hand)."""
    directory = folder()
    _started[:] = [directory]
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    _write_private(directory / PLATFORM_KEY, platform_key + "\n")
    _write_private(directory / MAILBOX, "")
    (directory / SLACK_SIGNING_SECRET).unlink(missing_ok=True)
    if slack_signing_secret:
        _write_private(directory / SLACK_SIGNING_SECRET, slack_signing_secret + "\n")


def append_mail(text: str) -> None:
    """Only in the process that started the folder (not a test that prints an email)."""
    if not _started:
        return
    try:
        with (_started[0] / MAILBOX).open("a", encoding="utf-8") as mailbox:
            mailbox.write(text)
    except OSError:
        pass  # the console still shows the email; a full disk must not stop a send


def stop() -> None:
    (folder() / PLATFORM_KEY).unlink(missing_ok=True)
    (folder() / SLACK_SIGNING_SECRET).unlink(missing_ok=True)


def _write_private(path: Path, text: str) -> None:
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
