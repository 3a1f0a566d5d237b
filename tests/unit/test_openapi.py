"""docs/openapi.yaml is a valid OpenAPI 3.1 document naming exactly the app's routes."""

from pathlib import Path

import yaml
from openapi_spec_validator import validate

from app import app

SPEC = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def _spec() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load(SPEC.read_text())  # type: ignore[no-any-return]


def test_spec_is_valid_openapi_3_1() -> None:
    spec = _spec()
    assert spec["openapi"].startswith("3.1")
    validate(spec)


def test_spec_and_app_name_the_same_paths_and_methods() -> None:
    documented = {
        (path, method.upper())
        for path, item in _spec()["paths"].items()
        for method in item
        if method in METHODS
    }
    routed = {(path, method) for path, methods in app.routes.items() for method in methods}
    assert documented == routed


def test_operation_ids_are_the_view_names() -> None:
    for path, item in _spec()["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                view = app.routes[path][method.upper()].view_name
                assert operation["operationId"] == view, (path, method)
