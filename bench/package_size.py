"""Deployment zip sizes: what `make package STAGE=<stage>` builds (deploy/packaging.py), the function
zip (the runtime's AWS SDK and the layer's Pillow left out) and the Pillow layer zip, against the
naive baseline Chalice builds from the same requirements.txt (with botocore, pulled in by PynamoDB,
and Pillow in the one zip every function gets). Builds all three (cached in .chalice/deployments).

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

from deploy import flow

ROOT = Path(__file__).resolve().parent.parent
MIB = 2**20
TARGET_MIB = 5.0


def baseline_zip(python_version: str) -> Path:
    osutils = OSUtils()
    builder = DependencyBuilder(osutils=osutils, pip_runner=PipRunner(pip=SubprocessPip(osutils=osutils),
                                                                       osutils=osutils))
    packager = LambdaDeploymentPackager(osutils=osutils, dependency_builder=builder, ui=UI())
    return Path(packager.create_deployment_package(str(ROOT), python_version))


def largest_parts(path: Path, count: int = 5, depth: int = 1) -> list[tuple[str, float]]:
    sizes: collections.Counter[str] = collections.Counter()
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            sizes["/".join(info.filename.split("/")[:depth])] += info.compress_size
    return [(name, size / MIB) for name, size in sizes.most_common(count)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stage", default="dev")
    stage = parser.parse_args().stage
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    function_zip, *layer_zips = flow.package(stage, project_dir=ROOT, log=lambda line: None)
    baseline = baseline_zip("python3.11")
    function_mib, baseline_mib = function_zip.stat().st_size / MIB, baseline.stat().st_size / MIB
    layers_mib = {path: path.stat().st_size / MIB for path in layer_zips}
    print(f"function zip (make package):     {function_mib:6.2f} MiB  {function_zip}")
    for path, mib in layers_mib.items():
        print(f"{path.stem + ' zip (make package):':32s} {mib:6.2f} MiB  {path}")
    print(f"naive baseline (Chalice's own):  {baseline_mib:6.2f} MiB  {baseline}  (AWS SDK and the layers in it)")
    print(f"ratios: function/baseline {function_mib / baseline_mib:.2f}, "
          f"(function + layers)/baseline {(function_mib + sum(layers_mib.values())) / baseline_mib:.2f}; "
          f"function zip target < {TARGET_MIB} MiB: {'met' if function_mib < TARGET_MIB else 'NOT met'}")
    for label, path, depth in (("function zip", function_zip, 1), *((p.stem, p, 2) for p in layer_zips)):
        print(f"largest parts of the {label} (compressed MiB):")
        for name, size in largest_parts(path, depth=depth):
            print(f"  {name:40s} {size:6.2f}")


if __name__ == "__main__":
    main()
