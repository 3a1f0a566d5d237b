"""What the benches share: the moto-in-process environment they run in.

Imported after the bench has put the project root on sys.path (each script does that first:
`python bench/x.py` puts bench/ first, where bench/requests.py would shadow the requests package)."""

from __future__ import annotations

import json
import os
from typing import Any

MOTO_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
CLEARED = (
    "OC_AWS_ENDPOINT_URL",
    "OC_PLATFORM_KEY_SSM_PARAM",
    "OC_CURSOR_KEY_SSM_PARAM",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
)
BENCH_CURSOR_KEY = "bench-cursor-key-0123456789abcdef"


def configure_env(platform_key: str, also_clear: tuple[str, ...] = ()) -> None:
    """moto's dummy credentials, our platform and cursor keys, and none of the settings that would point the
    app elsewhere or change what is measured."""
    os.environ.update(MOTO_ENV, OC_PLATFORM_KEY=platform_key, OC_CURSOR_KEY=BENCH_CURSOR_KEY)
    for name in CLEARED + also_clear:
        os.environ.pop(name, None)


def conclude(failures: list[str]) -> int:
    """Prints what missed its target and the verdict; the exit status for CI (1 on a miss)."""
    print()
    for failure in failures:
        print(f"FAIL: {failure}")
    print("result: " + ("FAIL" if failures else "all targets met"))
    return 1 if failures else 0


def send(
    http: Any, platform_key: str, method: str, path: str, token: str | None = None, body: Any = None
) -> tuple[int, Any]:
    """A JSON request through chalice.test's HTTP client: (status, decoded body)."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if path.startswith("/platform/"):
        headers["X-Platform-Key"] = platform_key
    payload = json.dumps(body) if body is not None else None
    response = getattr(http, method.lower())(path, headers=headers, body=payload)
    return response.status_code, json.loads(response.body or b"null")
