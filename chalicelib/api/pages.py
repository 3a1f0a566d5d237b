"""Small HTML pages served by the API itself (the page an invitation links to)."""

from __future__ import annotations

import html
from functools import lru_cache
from pathlib import Path
from string import Template

_PAGES = Path(__file__).with_name("html")


@lru_cache(maxsize=4)
def _read(name: str) -> str:
    return (_PAGES / name).read_text(encoding="utf-8")


def accept_invite_page() -> str:
    return _read("accept_invite.html")


def oauth_result_page(title: str, detail: str, ok: bool) -> str:
    """The page an OAuth callback answers: whether the service was connected, and why not."""
    return Template(_read("oauth_result.html")).substitute(
        title=html.escape(title), detail=html.escape(detail), kind="ok" if ok else "refused"
    )
