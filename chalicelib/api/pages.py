"""Small HTML pages served by the API itself (the page an invitation links to)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

_PAGES = Path(__file__).with_name("html")


@lru_cache(maxsize=4)
def _read(name: str) -> str:
    return (_PAGES / name).read_text(encoding="utf-8")


def accept_invite_page() -> str:
    return _read("accept_invite.html")
