"""The deployment package without what the Lambda Python runtime already provides.

PynamoDB depends on botocore, so Chalice's packager puts botocore (16 MB of a 17 MB zip)
into every deployment package although the runtime ships boto3 and botocore. These subclasses of
Chalice's own builder and packager drop the AWS SDK and its dependency closure from the package;
everything else (the wheel selection for manylinux, the app files, `vendor/`) is Chalice's.
They are swapped into Chalice's build stage by `slim_packaging()` for both `make deploy` and
`make package`, so the zip `make package` writes is the one `make deploy` uploads.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

from chalice.deploy import deployer as chalice_deployer
from chalice.deploy.packager import DependencyBuilder as PipDependencyBuilder
from chalice.deploy.packager import LambdaDeploymentPackager, Package

# Provided by the Lambda Python runtime (boto3 and its dependencies); normalized project names.
RUNTIME_PROVIDED = frozenset({
    "boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3",
})
# Cached packages of this builder get their own name, so a cached full package is never reused.
CACHE_PREFIX = "slim-"


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


class RuntimeAwareDependencyBuilder(PipDependencyBuilder):
    """Chalice's pip builder, minus the packages the runtime provides."""

    def _download_dependencies(self, abi: str, directory: str,
                               requirements_filename: str) -> tuple[set[Package], set[Package]]:
        wheels, missing = super()._download_dependencies(abi, directory, requirements_filename)
        return _without_runtime_provided(wheels), _without_runtime_provided(missing)


def _without_runtime_provided(packages: set[Package]) -> set[Package]:
    return {p for p in packages if normalized(p.identifier.split("==", 1)[0]) not in RUNTIME_PROVIDED}


class SlimLambdaDeploymentPackager(LambdaDeploymentPackager):
    def deployment_package_filename(self, project_dir: str, python_version: str) -> str:
        return self._deployment_package_filename(project_dir, python_version, prefix=CACHE_PREFIX)


@contextlib.contextmanager
def slim_packaging() -> Iterator[None]:
    """Make Chalice's build stage use the slim builder and packager while the block runs."""
    saved = chalice_deployer.PipDependencyBuilder, chalice_deployer.LambdaDeploymentPackager
    chalice_deployer.PipDependencyBuilder = RuntimeAwareDependencyBuilder
    chalice_deployer.LambdaDeploymentPackager = SlimLambdaDeploymentPackager
    try:
        yield
    finally:
        chalice_deployer.PipDependencyBuilder, chalice_deployer.LambdaDeploymentPackager = saved
