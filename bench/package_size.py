"""Deployment zip size: what `make package STAGE=<stage>` builds (the runtime's AWS SDK left out,
deploy/packaging.py) against the baseline Chalice builds from the same requirements.txt (with
botocore, pulled in by PynamoDB). Builds both (pip downloads are cached in .chalice/deployments).

    .venv/bin/python -m bench.package_size [--stage dev]
"""

from __future__ import annotations

import argparse
import collections
import os
import zipfile
from pathlib import Path

from chalice.deploy.packager import DependencyBuilder, LambdaDeploymentPackager, PipRunner, SubprocessPip
from chalice.utils import UI, OSUtils

from deploy.chalice_app import build_package

ROOT = Path(__file__).resolve().parent.parent
MIB = 2**20
TARGET_MIB = 5.0


def baseline_zip(python_version: str) -> Path:
    osutils = OSUtils()
    builder = DependencyBuilder(osutils=osutils, pip_runner=PipRunner(pip=SubprocessPip(osutils=osutils),
                                                                       osutils=osutils))
    packager = LambdaDeploymentPackager(osutils=osutils, dependency_builder=builder, ui=UI())
    return Path(packager.create_deployment_package(str(ROOT), python_version))


def largest_parts(path: Path, count: int = 5) -> list[tuple[str, float]]:
    sizes: collections.Counter[str] = collections.Counter()
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            sizes[info.filename.split("/", 1)[0]] += info.compress_size
    return [(name, size / MIB) for name, size in sizes.most_common(count)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stage", default="dev")
    stage = parser.parse_args().stage
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    slim = build_package(ROOT, stage, ROOT / "dist" / stage / "deployment.zip")
    baseline = baseline_zip("python3.11")
    slim_mib, baseline_mib = slim.stat().st_size / MIB, baseline.stat().st_size / MIB
    print(f"deployment zip (make package): {slim_mib:6.2f} MiB  {slim}")
    print(f"baseline (Chalice, with SDK):  {baseline_mib:6.2f} MiB  {baseline}")
    print(f"ratio slim/baseline: {slim_mib / baseline_mib:.2f}; target < {TARGET_MIB} MiB: "
          f"{'met' if slim_mib < TARGET_MIB else 'NOT met'}")
    print("largest parts of the deployment zip (compressed MiB):")
    for name, size in largest_parts(slim):
        print(f"  {name:40s} {size:6.2f}")


if __name__ == "__main__":
    main()
