"""Password hashing with argon2id (argon2-cffi): memory-hard, salted, self-describing hashes.

Parameters (docs/DECISIONS.md): OWASP's argon2id baseline, 19 MiB, 2 passes, 1 lane. A login for
an unknown email verifies against a dummy hash made with the same parameters, so it costs the
same time as a wrong password and answers the same error.
"""

from __future__ import annotations

import secrets
import threading
from typing import Any

TIME_COST = 2
MEMORY_COST_KIB = 19 * 1024
PARALLELISM = 1


class PasswordHasher:
    def __init__(self) -> None:
        self._hasher: Any = None
        self._dummy_hash: str | None = None
        self._lock = threading.Lock()

    def _argon2(self) -> Any:
        if self._hasher is None:
            from argon2 import PasswordHasher as Argon2Hasher

            self._hasher = Argon2Hasher(
                time_cost=TIME_COST, memory_cost=MEMORY_COST_KIB, parallelism=PARALLELISM
            )
        return self._hasher

    def hash(self, password: str) -> str:
        return self._argon2().hash(password)  # type: ignore[no-any-return]

    def verify(self, password_hash: str | None, password: str) -> bool:
        """True if the password matches; with no hash, burns the same time and answers False."""
        from argon2.exceptions import InvalidHashError, VerificationError

        target = password_hash or self._dummy()
        try:
            matched = bool(self._argon2().verify(target, password))
        except (VerificationError, InvalidHashError):
            matched = False
        return matched and password_hash is not None

    def _dummy(self) -> str:
        with self._lock:
            if self._dummy_hash is None:
                self._dummy_hash = self.hash(secrets.token_urlsafe(16))
            return self._dummy_hash
