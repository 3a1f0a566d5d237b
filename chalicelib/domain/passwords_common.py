"""Passwords that guessing attacks try first (NIST SP 800-63B §3.1.1.2 asks us to refuse them).

weak_passwords.txt holds two lists: whole passwords from the top of public breach corpora
(`=`), and the base words people decorate with digits and symbols (`~`, "Welcome2026!",
"password123"); a password made of such a base and decoration only is refused as well.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

_DECORATION = re.compile(r"^[\W\d_]*(?P<base>.*?)[\W\d_]*$")
_LIST = Path(__file__).with_name("weak_passwords.txt")


@lru_cache(maxsize=1)
def _lists() -> tuple[frozenset[str], frozenset[str]]:
    whole: set[str] = set()
    bases: set[str] = set()
    for line in _LIST.read_text(encoding="utf-8").splitlines():
        if line.startswith("="):
            whole.add(line[1:])
        elif line.startswith("~"):
            bases.add(line[1:])
    return frozenset(whole), frozenset(bases)


def is_common(password: str) -> bool:
    whole, bases = _lists()
    lowered = password.lower()
    if lowered in whole:
        return True
    match = _DECORATION.match(lowered)
    base = match.group("base") if match else lowered
    return base == "" or base in bases
