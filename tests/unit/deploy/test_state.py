"""A stage's deploy state saved to and restored from an S3 bucket (deploy/state.py), in moto."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import boto3
import pytest

from deploy import state
from tests.aws import REGION

pytestmark = pytest.mark.usefixtures("stack")
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def bucket():
    name = f"state-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=name)
    return name


def project(tmp_path: Path, name: str) -> Path:
    """A project directory with the repository's config.json."""
    (tmp_path / name / ".chalice").mkdir(parents=True)
    shutil.copyfile(ROOT / ".chalice" / "config.json", tmp_path / name / ".chalice" / "config.json")
    return tmp_path / name


def test_a_saved_state_is_restored_into_a_fresh_checkout(tmp_path, bucket):
    s3 = boto3.client("s3", region_name=REGION)
    deployed = project(tmp_path, "deployed")
    (deployed / ".chalice" / "deployed").mkdir()
    (deployed / ".chalice" / "deployed" / "dev.json").write_text('{"resources": [], "schema_version": "2.0"}')
    for name in ("policy-dev.json", "policy-dev-publish_outbox.json", "policy-prod.json"):
        (deployed / ".chalice" / name).write_text(json.dumps({"file": name}))

    assert state.save(s3, bucket, "dev", deployed, log=lambda line: None) == 4  # deployed, config, 2 policies
    fresh = project(tmp_path, "fresh")
    assert state.restore(s3, bucket, "dev", fresh, log=lambda line: None) == 3

    for name in ("deployed/dev.json", "policy-dev.json", "policy-dev-publish_outbox.json"):
        assert (fresh / ".chalice" / name).read_bytes() == (deployed / ".chalice" / name).read_bytes()
    assert not (fresh / ".chalice" / "policy-prod.json").exists()
    saved_section = s3.get_object(Bucket=bucket, Key="storefront/dev/config-stage.json")["Body"].read()
    assert json.loads(saved_section)["environment_variables"]["STOREFRONT_STAGE"] == "dev"


def test_restoring_a_stage_never_deployed_writes_nothing(tmp_path, bucket):
    lines: list[str] = []
    fresh = project(tmp_path, "fresh")

    assert state.restore(boto3.client("s3", region_name=REGION), bucket, "dev", fresh, log=lines.append) == 0
    assert lines == [f"no saved state under s3://{bucket}/storefront/dev/: the stage's first deploy"]
    assert not (fresh / ".chalice" / "deployed").exists()


def test_saving_without_a_deployed_state_is_refused(tmp_path, bucket):
    with pytest.raises(SystemExit, match=r"no .chalice/deployed/dev.json to save"):
        state.save(boto3.client("s3", region_name=REGION), bucket, "dev", project(tmp_path, "fresh"))
