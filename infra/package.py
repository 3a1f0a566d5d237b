"""`make package`: the deployable stack, offline. Run as `python -m infra.package [outdir]`.

1. Writes `<outdir>/merge-template.json`: infra/template.yaml (the stateful resources), the API
   Gateway responses (infra/api-gateway-responses.json) and FUNCTION_OVERLAY (what only makes
   sense merged into Chalice's functions). `chalice package --merge-template` takes one file.
2. Runs `chalice package --stage prod --merge-template <that> <outdir>`: `sam.json` (one
   CloudFormation template, with one IAM role per function from .chalice/policy-*.json) and
   `deployment.zip`.
3. Adds bytecode to the zip: `__pycache__/<module>.cpython-3XX.pyc` beside every module, compiled
   by this interpreter (Chalice picks the Lambda runtime from it: the two always match) in
   unchecked-hash mode. Lambda's /var/task is read-only, so without them every cold start
   compiles every module it imports; a timestamp-checked .pyc would not do, as a zip keeps
   modification times to 2 seconds and the source's mtime would not match the one recorded.
   An unchecked-hash .pyc is used as is: right for a zip that never changes once built.
4. Prints the zip's unzipped size (`check_zip` fails over ZIP_BUDGET_BYTES or when a dev
   dependency is in it).

Nothing here calls AWS: Chalice only needs a region and (dummy) credentials to be set.
"""

from __future__ import annotations

import json
import os
import py_compile
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from infra.emulator import load_template

ROOT = Path(__file__).resolve().parent.parent
STAGE = "prod"
ZIP_BUDGET_BYTES = 15 * 1024 * 1024
# Top-level names in the zip that would mean a dev dependency was vendored (requirements-dev.txt).
DEV_ONLY = (
    "moto",
    "pytest",
    "_pytest",
    "xdist",
    "ruff",
    "mypy",
    "cfnlint",
    "mypy_boto3_dynamodb",
    "boto3-stubs",
    "awscli",
    "openapi_spec_validator",
    "yaml",
    "requests",
    "boto3",
    "botocore",
    "chalice/cli",
    "localdev",
    "tests",
    "bench",
    "infra",
)

# Merged into Chalice's own resources (deep merge: these keys are added to theirs). Chalice
# names an SQS event source's queue by an ARN string, not a reference, so nothing orders the
# queue before the event source mapping: DependsOn does (SAM passes it to the function, and the
# mapping references the function).
FUNCTION_OVERLAY: dict[str, Any] = {
    "OnS3Event": {"DependsOn": ["S3EventsQueue"]},
    "OnJob": {"DependsOn": ["JobsQueue"]},
}
# Chalice's logical ids: infra/template.yaml must not define any of them.
CHALICE_IDS = (
    "APIHandler",
    "APIHandlerInvokePermission",
    "ApiHandlerRole",
    "RestAPI",
    "OnS3Event",
    "OnS3EventRole",
    "OnJob",
    "OnJobRole",
)


def merge_template() -> dict[str, Any]:
    template = load_template()
    clashes = sorted(set(template["Resources"]) & set(CHALICE_IDS))
    if clashes:
        raise ValueError(f"infra/template.yaml redefines Chalice's resources: {clashes}")
    responses = json.loads((ROOT / "infra" / "api-gateway-responses.json").read_text())
    template["Resources"].update(responses["Resources"])
    template["Resources"].update(FUNCTION_OVERLAY)
    return template


def build(outdir: Path) -> Path:
    outdir.mkdir(parents=True, exist_ok=True)
    for stale in ("sam.json", "sam.yaml", "deployment.zip"):
        (outdir / stale).unlink(missing_ok=True)
    merge = outdir / "merge-template.json"
    merge.write_text(json.dumps(merge_template(), indent=1))
    env = dict(os.environ)
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    if not env.get("AWS_PROFILE"):
        env.setdefault("AWS_ACCESS_KEY_ID", "packaging-needs-no-credentials")
        env.setdefault("AWS_SECRET_ACCESS_KEY", "packaging-needs-no-credentials")
    chalice = Path(sys.executable).with_name("chalice")
    subprocess.run(  # noqa: S603 - the venv's chalice, fixed arguments
        [str(chalice), "package", "--stage", STAGE, "--merge-template", str(merge), str(outdir)],
        cwd=ROOT,
        env=env,
        check=True,
    )
    zip_path = outdir / "deployment.zip"
    add_bytecode(zip_path)
    return zip_path


def add_bytecode(zip_path: Path) -> int:
    """Appends an unchecked-hash .pyc for every .py of the zip that has none; returns how many."""
    tag = sys.implementation.cache_tag  # e.g. cpython-311: the runtime Chalice chose
    added = 0
    with zipfile.ZipFile(zip_path, "a", compression=zipfile.ZIP_DEFLATED) as bundle:
        names = set(bundle.namelist())
        with tempfile.TemporaryDirectory() as scratch:
            for name in sorted(names):
                if not name.endswith(".py"):
                    continue
                folder, _, filename = name.rpartition("/")
                cached = f"{folder + '/' if folder else ''}__pycache__/{filename[:-3]}.{tag}.pyc"
                if cached in names:
                    continue
                source = Path(scratch) / "source.py"
                source.write_bytes(bundle.read(name))
                target = Path(scratch) / "out.pyc"
                try:
                    py_compile.compile(
                        str(source),
                        cfile=str(target),
                        dfile=f"/var/task/{name}",
                        doraise=True,
                        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
                    )
                except py_compile.PyCompileError:
                    continue  # a module this Python cannot compile is never imported by the app
                bundle.write(target, cached)
                added += 1
    return added


def runtime_of(sam_template: Path) -> str:
    """The Python runtime of the template's functions (Chalice writes one for all)."""
    template = json.loads(sam_template.read_text())
    runtimes = {
        r["Properties"]["Runtime"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Serverless::Function"
    }
    (runtime,) = runtimes
    return str(runtime)


def check_zip(zip_path: Path) -> int:
    """The unzipped size; raises when over budget or when a dev dependency is inside."""
    with zipfile.ZipFile(zip_path) as bundle:
        infos = bundle.infolist()
    size = sum(i.file_size for i in infos)
    dev = sorted(
        {
            name
            for i in infos
            for name in DEV_ONLY
            if i.filename == name or i.filename.startswith((name + "/", name + ".py", name + "-"))
        }
    )
    print(f"deployment.zip: {zip_path.stat().st_size:,} bytes, {size:,} bytes unzipped ({len(infos)} files)")
    if dev:
        raise SystemExit(f"dev dependencies in the Lambda zip: {dev}")
    if size > ZIP_BUDGET_BYTES:
        raise SystemExit(f"the Lambda zip is {size:,} bytes unzipped, over {ZIP_BUDGET_BYTES:,}")
    return size


def main() -> None:
    outdir = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "build").resolve()
    zip_path = build(outdir)
    runtime = runtime_of(outdir / "sam.json")
    print(f"{outdir / 'sam.json'}: runtime {runtime}, bytecode {sys.implementation.cache_tag}")
    check_zip(zip_path)


if __name__ == "__main__":
    main()
