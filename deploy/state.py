"""`python -m deploy.state {save,restore} --stage <stage> --bucket <bucket>`: a stage's deploy state
in S3 between CI runs (docs/deploy.md, "State that must survive between runs").

Under `s3://<bucket>/storefront/<stage>/`: `deployed.json` (Chalice's `.chalice/deployed/<stage>.json`,
without which the next deploy creates a second copy of everything), `config-stage.json` (the stage's
section of `.chalice/config.json`) and `policies/<file>` (`.chalice/policy-<stage>*.json`).

`restore` brings back `deployed.json` and the policy files; a stage never deployed has none, which
is not an error. It does not overwrite the committed `config.json`: every deploy rewrites the keys it
owns in the stage's section from the stack outputs, and the saved section is kept as the record of
what the running stage was deployed with. Credentials and region come from the environment.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3

from chalicelib.settings import PROJECT
from deploy.flow import ROOT
from deploy.stage_config import read_config

Log = Callable[[str], None]


def prefix(stage: str) -> str:
    return f"{PROJECT}/{stage}/"


def deployed_path(project_dir: Path, stage: str) -> Path:
    return project_dir / ".chalice" / "deployed" / f"{stage}.json"


def policy_files(project_dir: Path, stage: str) -> list[Path]:
    chalice = project_dir / ".chalice"
    return sorted([*chalice.glob(f"policy-{stage}.json"), *chalice.glob(f"policy-{stage}-*.json")])


def save(s3: Any, bucket: str, stage: str, project_dir: Path = ROOT, log: Log = print) -> int:
    """Upload the stage's state; return how many objects were written."""
    deployed = deployed_path(project_dir, stage)
    if not deployed.exists():
        raise SystemExit(f"error: no {deployed.relative_to(project_dir)} to save: was the stage deployed from here?")
    section = read_config(project_dir).get("stages", {}).get(stage, {})
    objects = {"deployed.json": deployed.read_bytes(),
               "config-stage.json": (json.dumps(section, indent=2) + "\n").encode()}
    objects |= {f"policies/{path.name}": path.read_bytes() for path in policy_files(project_dir, stage)}
    for name, body in objects.items():
        s3.put_object(Bucket=bucket, Key=prefix(stage) + name, Body=body, ContentType="application/json")
    log(f"saved {len(objects)} objects to s3://{bucket}/{prefix(stage)}")
    return len(objects)


def restore(s3: Any, bucket: str, stage: str, project_dir: Path = ROOT, log: Log = print) -> int:
    """Download the stage's deployed state and policy files; return how many files were written."""
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix(stage))
            for o in page.get("Contents", [])]
    if prefix(stage) + "deployed.json" not in keys:
        log(f"no saved state under s3://{bucket}/{prefix(stage)}: the stage's first deploy")
        return 0
    targets = {prefix(stage) + "deployed.json": deployed_path(project_dir, stage)}
    targets |= {key: project_dir / ".chalice" / key.rsplit("/", 1)[1]
                for key in keys if key.startswith(prefix(stage) + "policies/")}
    for key, path in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    log(f"restored {len(targets)} files from s3://{bucket}/{prefix(stage)}")
    return len(targets)


def main(argv: list[str] | None = None, session: boto3.Session | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.state", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["save", "restore"])
    parser.add_argument("--stage", required=True)
    parser.add_argument("--bucket", required=True, help="the state bucket (versioning on)")
    args = parser.parse_args(argv)
    s3 = (session or boto3.Session()).client("s3")
    (save if args.command == "save" else restore)(s3, args.bucket, args.stage)
    return 0


if __name__ == "__main__":
    sys.exit(main())
