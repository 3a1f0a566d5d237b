"""Tenancy checks of the users, invitations, jobs and default-groups routes; test_tenancy.py gathers them.

Each check gets a fresh moto and an `Api`, and proves that a token of one domain cannot read or
change another domain's objects through that route (404), nor reach it without a token (401)."""

from __future__ import annotations

from collections.abc import Callable

from tests.conftest import Api

ROUTE_CHECKS: dict[tuple[str, str], Callable[[Api], None]] = {}
