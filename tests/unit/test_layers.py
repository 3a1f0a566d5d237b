"""Imports point down the layers of chalicelib/ (docs/ARCHITECTURE.md), read from the source.

    api | events                          the ways in (they do not import each other)
    services                              the use cases
    repositories | notifications | integrations   the adapters
    domain | core                         the leaves, used by every layer above

A module may import its own layer's packages (except api ↔ events), the layer right below, and
the leaves: the ways in reach the adapters only through a service. Every import counts: at the
top of a module, inside a function (a lazy import couples the layers just the same, it is only
paid later), and under `if TYPE_CHECKING:` (an annotation that names an upper layer's type still
makes the lower one depend on it). `bootstrap.py` (the composition root) and
`chalicelib/__init__.py` are exempt; the ways in may import `bootstrap` to reach the services, no
other layer may. A package of chalicelib/ with no layer here fails until it is given one."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "chalicelib"

LAYERS = (
    ("api", "events"),
    ("services",),
    ("repositories", "notifications", "integrations"),
    ("domain", "core"),
)
RANKS = {package: len(LAYERS) - 1 - rank for rank, packages in enumerate(LAYERS) for package in packages}
LEAVES = set(LAYERS[-1])
WAYS_IN = set(LAYERS[0])  # whose packages do not import each other
EXEMPT = {PACKAGE, f"{PACKAGE}.bootstrap"}  # they wire everything
ROOT_ONLY_FROM_THE_WAYS_IN = "only the ways in (api, events) reach the composition root"


@dataclass(frozen=True)
class Violation:
    module: str
    line: int
    imported: str
    why: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.imported}: {self.why}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, dotted name) of every module an import statement anywhere in `source` names; for
    `from a.b import c`, `a.b.c` (c may be a module or a name in a.b: both are in a.b's layer)."""
    found: list[tuple[int, str]] = []
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the importing module's package, up level - 1
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            found += [(node.lineno, f"{base}.{alias.name}" if base else alias.name) for alias in node.names]
    return found


def layer_of(module: str) -> str | None:
    """The package right under chalicelib/ (`api`, `services`, …), or the module's own name for
    a module right under it (`bootstrap`)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == PACKAGE else None


def check(module: str, imports: list[tuple[int, str]]) -> list[Violation]:
    if module in EXEMPT:
        return []
    own = layer_of(module)
    assert own in RANKS, f"{module} is in no layer: give `{own}` one in LAYERS (tests/unit/test_layers.py)"
    violations: list[Violation] = []
    for line, imported in imports:
        why = _against_the_layers(own, imported)
        if why:
            violations.append(Violation(module, line, imported, why))
    return violations


def _against_the_layers(own: str, imported: str) -> str | None:
    if imported == "app" or imported.startswith("app."):
        return "app.py is the top; nothing imports it"
    target = layer_of(imported)
    if target is None:
        return None  # the standard library or a third-party package
    if target == "bootstrap":
        return None if own in WAYS_IN else ROOT_ONLY_FROM_THE_WAYS_IN
    if target not in RANKS:
        return f"`{target}` is in no layer"
    if RANKS[target] > RANKS[own]:
        return f"points up, from {own} to {target}"
    if RANKS[target] == RANKS[own] and own in WAYS_IN and own != target:
        return f"sideways, from {own} to {target}"
    if RANKS[target] < RANKS[own] - 1 and target not in LEAVES:
        return f"skips a layer, from {own} to {target}"
    return None


def violations_in(source: str, module: str, is_package: bool = False) -> list[Violation]:
    return check(module, imported_modules(source, module, is_package))


def test_every_import_of_chalicelib_points_down_the_layers() -> None:
    violations: list[Violation] = []
    paths = sorted((ROOT / PACKAGE).rglob("*.py"))
    assert len(paths) > 50  # the walk found the code
    for path in paths:
        module = module_name(path)
        violations += violations_in(path.read_text(encoding="utf-8"), module, path.name == "__init__.py")
    assert not violations, "imports against the layers:\n" + "\n".join(map(str, violations))


def test_every_package_of_chalicelib_has_a_layer() -> None:
    packages = {p.name for p in (ROOT / PACKAGE).iterdir() if (p / "__init__.py").exists()}
    assert packages <= set(RANKS), f"give these a rank in RANKS: {sorted(packages - set(RANKS))}"


def test_the_check_finds_an_upward_import_wherever_it_is() -> None:
    source = """
from typing import TYPE_CHECKING

import boto3
from chalicelib.core import ids
from chalicelib.domain.models import User
from chalicelib.repositories import keys

if TYPE_CHECKING:
    from chalicelib.services.auth import Principal

def later():
    from chalicelib.api.views import user_view
    import chalicelib.events.jobs
"""
    found = violations_in(source, "chalicelib.repositories.users")
    assert [(v.line, v.imported) for v in found] == [
        (10, "chalicelib.services.auth.Principal"),
        (13, "chalicelib.api.views.user_view"),
        (14, "chalicelib.events.jobs"),
    ]
    assert "chalicelib.repositories.users:10 imports chalicelib.services.auth.Principal: points up" in str(
        found[0]
    )


def test_the_ways_in_do_not_import_each_other_but_reach_the_composition_root() -> None:
    source = """
from chalicelib.bootstrap import services
from chalicelib.api import views
from chalicelib.events import jobs
"""
    assert [v.imported for v in violations_in(source, "chalicelib.api.admin")] == ["chalicelib.events.jobs"]
    assert [v.imported for v in violations_in(source, "chalicelib.events.handlers")] == [
        "chalicelib.api.views"
    ]
    below = violations_in("from chalicelib.bootstrap import services\n", "chalicelib.services.users")
    assert [v.why for v in below] == [ROOT_ONLY_FROM_THE_WAYS_IN]


def test_the_ways_in_reach_the_adapters_only_through_a_service() -> None:
    source = """
from chalicelib.services.jobs import JobService
from chalicelib.domain.jobs import Job
from chalicelib.core.clock import iso
from chalicelib.repositories.jobs import JobRepository
from chalicelib.notifications.email import Mailer
"""
    found = violations_in(source, "chalicelib.api.views")
    assert [(v.imported, v.why) for v in found] == [
        ("chalicelib.repositories.jobs.JobRepository", "skips a layer, from api to repositories"),
        ("chalicelib.notifications.email.Mailer", "skips a layer, from api to notifications"),
    ]


def test_one_layer_may_import_itself_and_below() -> None:
    source = """
from chalicelib.notifications.email import Mailer
from chalicelib.repositories.dynamo import Table
from chalicelib.domain.models import User
from chalicelib.core.errors import NotFound
from . import keys
from .dynamo import Item
"""
    assert violations_in(source, "chalicelib.repositories.users") == []
    assert violations_in("from chalicelib.core import ids\n", "chalicelib.domain.rules") == []


def test_relative_imports_are_resolved_from_the_importing_module() -> None:
    assert [v.imported for v in violations_in("from ..services import tokens\n", "chalicelib.domain.x")] == [
        "chalicelib.services.tokens"
    ]
    assert [
        v.imported for v in violations_in("from ...api import views\n", "chalicelib.services.imports", True)
    ] == ["chalicelib.api.views"]
