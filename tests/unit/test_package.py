"""`make package` (infra/package.py): the merged template passes cfn-lint, every function has its
own role granting exactly the AWS calls its code makes, and the zip stays small and dev-free.

The AWS calls live beside the code: every module that calls a boto3 client declares them in
`AWS_CALLS` (IAM actions). test_every_boto3_call_is_declared walks each module's calls, so a call
added without its action fails here; FUNCTION_MODULES says which of those modules each function
runs, and test_each_role_grants_exactly_what_its_function_calls compares the union with the
role Chalice wrote from .chalice/policy-*.json.
"""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from infra import package

ROOT = Path(__file__).resolve().parents[2]

# The modules with AWS calls that each function runs (by hand: a new area adds its module here).
# The API serves every route; it starts deletions and purges but their S3 listing and batch
# deletes (repositories/erasure.py) run in the jobs function only (the API's deletion preview
# counts through repositories/dynamo.py).
_EVERY_FUNCTION = (
    "chalicelib.repositories.dynamo",
    "chalicelib.repositories.jobs",  # each enqueues jobs (deletions, import steps, continuations)
    "chalicelib.notifications.email",
    "chalicelib.core.aws",  # secret settings from SSM (the services read them when built)
)
FUNCTION_MODULES: dict[str, tuple[str, ...]] = {
    "ApiHandlerRole": (
        *_EVERY_FUNCTION,
        "chalicelib.repositories.files",
        "chalicelib.repositories.imports",
        "chalicelib.repositories.secrets",
        "chalicelib.core.cursors",
        "chalicelib.services.platform",
    ),
    # imports intake (imports/) and problem reports (reports/)
    "OnS3EventRole": (*_EVERY_FUNCTION, "chalicelib.repositories.files", "chalicelib.repositories.imports"),
    # import steps, deletions, domain purges, default groups, the Slack relay
    "OnJobRole": (
        *_EVERY_FUNCTION,
        "chalicelib.repositories.files",
        "chalicelib.repositories.imports",
        "chalicelib.repositories.erasure",
        "chalicelib.repositories.secrets",
    ),
}
POLICY_FILES = {
    "ApiHandlerRole": "policy-api.json",
    "OnS3EventRole": "policy-s3-events.json",
    "OnJobRole": "policy-jobs.json",
}
LOGS = {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}
# What Lambda's SQS event source mapping does with the function's own role.
EVENT_SOURCE = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
EVENT_QUEUES = {"OnS3EventRole": "office-chat-s3-events", "OnJobRole": "office-chat-jobs"}
# Actions IAM cannot scope to a resource ARN (SES v1's template management): Resource "*".
NO_RESOURCE_LEVEL = {"ses:CreateTemplate", "ses:UpdateTemplate"}

# boto3 methods whose IAM action is not service:OperationName.
SPECIAL_ACTIONS: dict[str, set[str]] = {
    "transact_write_items": {
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:ConditionCheckItem",
    },
    "head_object": {"s3:GetObject"},
    "list_objects_v2": {"s3:ListBucket"},
    "delete_objects": {"s3:DeleteObject"},
    "create_multipart_upload": {"s3:PutObject"},
    "upload_part": {"s3:PutObject"},
    "complete_multipart_upload": {"s3:PutObject"},
    "abort_multipart_upload": {"s3:AbortMultipartUpload"},
}
# generate_presigned_url("<method>"): the caller of the URL acts with our role's permissions.
PRESIGNED = {"put_object": {"s3:PutObject"}, "get_object": {"s3:GetObject"}}
# Calls whose names are boto3's but whose receivers are our own objects (the Dynamo table
# wrapper, the password hasher, SecretBox, the eraser, services): their AWS calls are declared
# where the boto3 client is called.
OWN_RECEIVERS = {
    "self",
    "self._table",
    "self._hasher",
    "self._argon2()",
    "self._box",
    "self._secrets",
    "self._imports",
    "eraser",
    "services().imports",
}
SERVICES = ("dynamodb", "s3", "sqs", "ses", "ssm", "kms")


def _boto3_methods() -> dict[str, set[str]]:
    import botocore.session
    from botocore import xform_name

    session = botocore.session.get_session()
    methods: dict[str, set[str]] = {}
    for service in SERVICES:
        model = session.get_service_model(service)
        for operation in model.operation_names:
            methods.setdefault(xform_name(operation), set()).add(f"{service}:{operation}")
    return methods


def _calls_of(path: Path, methods: dict[str, set[str]]) -> dict[str, tuple[set[str], bool]]:
    """`receiver.method(...)` calls of boto3 method names in a module → (IAM actions, whether
    all are needed). A method name several services share (delete_object...) needs one of its
    actions; a transaction or a tagged presigned PUT needs all of them."""
    found: dict[str, tuple[set[str], bool]] = {}
    for node in ast.walk(ast.parse(path.read_text())):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        name = node.func.attr
        where = f"{path.relative_to(ROOT)}:{node.lineno} .{name}()"
        if name == "generate_presigned_url":
            first = node.args[0] if node.args else None
            assert isinstance(first, ast.Constant), f"{where}: presigned method not a literal"
            actions = set(PRESIGNED[str(first.value)])
            if first.value == "put_object":  # the URL may sign x-amz-tagging
                actions.add("s3:PutObjectTagging")
            found[where] = (actions, True)
        elif name in methods and ast.unparse(node.func.value) not in OWN_RECEIVERS:
            special = SPECIAL_ACTIONS.get(name)
            found[where] = (special, True) if special else (methods[name], False)
    return found


def test_every_boto3_call_is_declared_in_its_module() -> None:
    methods = _boto3_methods()
    missing = []
    for path in sorted((ROOT / "chalicelib").rglob("*.py")):
        calls = _calls_of(path, methods)
        if not calls:
            continue
        module = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
        declared = set(getattr(module, "AWS_CALLS", ()))
        for where, (actions, need_all) in calls.items():
            if not (actions <= declared if need_all else actions & declared):
                missing.append(f"{where}: needs {sorted(actions)} in AWS_CALLS")
    assert not missing, "\n".join(missing)


def test_every_declared_call_is_made() -> None:
    """No stale permission: each action in AWS_CALLS comes from a call in its module."""
    methods = _boto3_methods()
    stale = []
    for path in sorted((ROOT / "chalicelib").rglob("*.py")):
        module = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
        declared = set(getattr(module, "AWS_CALLS", ()))
        made = {a for actions, _ in _calls_of(path, methods).values() for a in actions}
        stale += [f"{path.relative_to(ROOT)}: {a}" for a in sorted(declared - made)]
    assert not stale, stale


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    outdir = tmp_path_factory.mktemp("package")
    package.build(outdir)
    return outdir


@pytest.fixture(scope="module")
def sam(built: Path) -> dict[str, Any]:
    template: dict[str, Any] = json.loads((built / "sam.json").read_text())
    return template


def test_cfn_lint_passes_on_the_merged_template(built: Path) -> None:
    lint = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), str(built / "sam.json")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_the_template_and_chalice_share_no_logical_id() -> None:
    from infra.emulator import load_template

    assert not set(load_template()["Resources"]) & set(package.CHALICE_IDS)


def test_one_stack_holds_the_functions_and_the_resources(sam: dict[str, Any]) -> None:
    resources = sam["Resources"]
    for logical_id in (*package.CHALICE_IDS, "MainTable", "FilesBucket", "JobsQueue", "UnknownRouteResponse"):
        assert "Type" in resources[logical_id], logical_id
    assert resources["OnJob"]["DependsOn"] == ["JobsQueue"]
    assert resources["OnS3Event"]["DependsOn"] == ["S3EventsQueue"]
    handlers = {r["Properties"]["Role"]["Fn::GetAtt"][0] for r in _functions(sam)}
    assert handlers == set(POLICY_FILES)


def _functions(sam: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in sam["Resources"].values() if r["Type"] == "AWS::Serverless::Function"]


def _statements(sam: dict[str, Any], role: str) -> list[dict[str, Any]]:
    policies = sam["Resources"][role]["Properties"]["Policies"]
    assert len(policies) == 1
    statements: list[dict[str, Any]] = policies[0]["PolicyDocument"]["Statement"]
    return statements


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


@pytest.mark.parametrize("role", sorted(POLICY_FILES))
def test_each_role_is_its_hand_written_policy_file(sam: dict[str, Any], role: str) -> None:
    written = json.loads((ROOT / ".chalice" / POLICY_FILES[role]).read_text())
    assert _statements(sam, role) == written["Statement"]


@pytest.mark.parametrize("role", sorted(POLICY_FILES))
def test_each_role_grants_exactly_what_its_function_calls(sam: dict[str, Any], role: str) -> None:
    statements = _statements(sam, role)
    granted = {a for s in statements if s["Effect"] == "Allow" for a in _listed(s["Action"])}
    needed = set(LOGS)
    for name in FUNCTION_MODULES[role]:
        needed |= set(importlib.import_module(name).AWS_CALLS)
    if role in EVENT_QUEUES:
        needed |= EVENT_SOURCE
    assert sorted(granted - needed) == [], "granted, never called"
    assert sorted(needed - granted) == [], "called, never granted"


@pytest.mark.parametrize("role", sorted(POLICY_FILES))
def test_each_role_names_its_resources(sam: dict[str, Any], role: str) -> None:
    """No `*` action; no `*` resource where IAM takes an ARN; each service's ARNs are ours."""
    ours = {
        "dynamodb": "arn:aws:dynamodb:*:*:table/office-chat-main",
        "s3": "arn:aws:s3:::office-chat-files",
        "sqs": "arn:aws:sqs:*:*:office-chat-",
        "ses": "arn:aws:ses:*:*:",
        "ssm": "arn:aws:ssm:*:*:parameter/office-chat/",
        "kms": "arn:aws:kms:*:*:key/",
        "logs": "arn:aws:logs:*:*:log-group:/aws/lambda/office-chat-",
    }
    for statement in _statements(sam, role):
        actions = _listed(statement["Action"])
        assert all("*" not in a for a in actions), actions
        resources = _listed(statement["Resource"])
        if resources == ["*"]:
            assert set(actions) <= NO_RESOURCE_LEVEL, statement["Sid"]
            continue
        services = {a.split(":")[0] for a in actions}
        assert len(services) == 1, statement["Sid"]
        (service,) = services
        assert all(r.startswith(ours[service]) for r in resources), statement["Sid"]
        if service == "kms":  # a key id is made at deploy time: the alias condition names it
            assert statement["Condition"]["ForAnyValue:StringEquals"]["kms:ResourceAliases"]
        if {"sqs:ReceiveMessage"} & set(actions):
            assert resources == [f"arn:aws:sqs:*:*:{EVENT_QUEUES[role]}"]


def test_the_zip_is_within_budget_and_free_of_dev_dependencies(built: Path) -> None:
    size = package.check_zip(built / "deployment.zip")  # prints the size
    assert 0 < size <= package.ZIP_BUDGET_BYTES
    with zipfile.ZipFile(built / "deployment.zip") as bundle:
        names = set(bundle.namelist())
    assert "app.py" in names
    # chalicelib/ ships whole: every file of it (pages, word lists, later the Admin Portal).
    shipped = {
        str(p.relative_to(ROOT))
        for p in (ROOT / "chalicelib").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert shipped <= names


def test_the_zip_carries_bytecode_the_runtime_uses_as_is(built: Path, sam: dict[str, Any]) -> None:
    (runtime,) = {r["Properties"]["Runtime"] for r in _functions(sam)}
    tag = sys.implementation.cache_tag
    assert runtime == f"python{sys.version_info.major}.{sys.version_info.minor}"
    with zipfile.ZipFile(built / "deployment.zip") as bundle:
        names = set(bundle.namelist())
        pyc = bundle.read(f"chalicelib/core/__pycache__/config.{tag}.pyc")
    assert f"__pycache__/app.{tag}.pyc" in names
    assert int.from_bytes(pyc[4:8], "little") == 0b01  # hash-based, source never checked
