"""The function deployment package and the Pillow layer, both built from requirements.txt.

- The function zip leaves out what the Lambda Python runtime already provides and what the layer
  provides. PynamoDB depends on botocore, so Chalice's packager would put botocore (16 MB of a 17 MB
  zip) into every deployment package although the runtime ships boto3 and botocore; and Pillow
  (`PIL/` and `pillow.libs/`, about 7.5 MiB zipped) is needed by one function only. These subclasses
  of Chalice's own builder and packager drop both from the package; everything else (the wheel
  selection for manylinux, the app files, `vendor/`) is Chalice's. They are swapped into Chalice's
  build stage by `function_packaging()` for both `make deploy` and `make package`, so the zip
  `make package` writes is the one `make deploy` uploads.
- Each layer zip (`build_layer`, one per entry of `LAYERS`) holds its pinned packages of
  requirements.txt under `python/` (on Lambda's `sys.path` as `/opt/python`), installed by the same
  Chalice builder for manylinux and the stage's Python ABI: Pillow for the image handler; PyJWT and
  `cryptography` (with `cffi`, `pycparser`) for the functions that verify tokens. A layer is cached in
  `.chalice/deployments/` like the function package (offline once cached) and is byte-for-byte
  reproducible (sorted entries, fixed timestamps), so its sha256 says whether the published layer is
  current (deploy/layers.py). Only the layer's `functions` get it attached (`.chalice/config.json`,
  deploy/stage_config.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from chalice.config import DEFAULT_LAMBDA_ARCHITECTURE
from chalice.deploy import deployer as chalice_deployer
from chalice.deploy.packager import DependencyBuilder as PipDependencyBuilder
from chalice.deploy.packager import LambdaDeploymentPackager, Package, PipRunner, SubprocessPip
from chalice.utils import OSUtils

# Provided by the Lambda Python runtime (boto3 and its dependencies); normalized project names.
RUNTIME_PROVIDED = frozenset({
    "boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3",
})


@dataclass(frozen=True)
class Layer:
    """A Lambda layer of the stage, `storefront-<stage>-<short_name>`: `packages` (normalized project
    names, each pinned in requirements.txt, dependencies included) for `functions` only."""

    short_name: str
    packages: frozenset[str]
    functions: tuple[str, ...]


LAYERS = (
    # Only the S3 image handler imports PIL (chalicelib/images/service.py, lazily).
    Layer("pillow", frozenset({"pillow"}), ("attach_uploaded_image",)),
    # Token verification (chalicelib/accounts/tokens.py, lazily): the authorizer, the WebSocket $connect,
    # and the API for its check while the signing keys were unreachable (docs/architecture.md, Auth).
    Layer("jose", frozenset({"pyjwt", "cryptography", "cffi", "pycparser"}),
          ("jwt_authorizer", "websocket_connect", "api_handler")),
)
# Provided by a layer, so never in the function zip (normalized project names).
LAYER_PACKAGES = frozenset().union(*(layer.packages for layer in LAYERS))
LAYER_PREFIX = "python"
# Cached function packages of this builder get their own name, so a cached full package is never reused.
CACHE_PREFIX = "slim-nolayer-"
_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


class FunctionDependencyBuilder(PipDependencyBuilder):
    """Chalice's pip builder, minus the packages the runtime or the layer provide."""

    def _download_dependencies(self, abi: str, directory: str,
                               requirements_filename: str) -> tuple[set[Package], set[Package]]:
        wheels, missing = super()._download_dependencies(abi, directory, requirements_filename)
        return _for_function(wheels), _for_function(missing)


def _for_function(packages: set[Package]) -> set[Package]:
    left_out = RUNTIME_PROVIDED | LAYER_PACKAGES
    return {p for p in packages if normalized(p.identifier.split("==", 1)[0]) not in left_out}


class FunctionDeploymentPackager(LambdaDeploymentPackager):
    def deployment_package_filename(self, project_dir: str, python_version: str) -> str:
        return self._deployment_package_filename(project_dir, python_version, prefix=CACHE_PREFIX)


def function_builder(architecture: str = DEFAULT_LAMBDA_ARCHITECTURE,
                     builder_class: type[PipDependencyBuilder] = FunctionDependencyBuilder) -> PipDependencyBuilder:
    osutils = OSUtils()
    return builder_class(osutils=osutils, pip_runner=PipRunner(pip=SubprocessPip(osutils=osutils), osutils=osutils),
                         architecture=architecture)


@contextlib.contextmanager
def function_packaging() -> Iterator[None]:
    """Make Chalice's build stage use the function builder and packager while the block runs."""
    saved = chalice_deployer.PipDependencyBuilder, chalice_deployer.LambdaDeploymentPackager
    chalice_deployer.PipDependencyBuilder = FunctionDependencyBuilder
    chalice_deployer.LambdaDeploymentPackager = FunctionDeploymentPackager
    try:
        yield
    finally:
        chalice_deployer.PipDependencyBuilder, chalice_deployer.LambdaDeploymentPackager = saved


def layer_requirements(project_dir: Path, layer: Layer) -> list[str]:
    """The requirement lines of requirements.txt for the layer's packages (the pins the app is tested with)."""
    lines = []
    for line in (project_dir / "requirements.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        name = re.split(r"[\s<>=!~;\[]", line, maxsplit=1)[0] if line else ""
        if name and normalized(name) in layer.packages:
            lines.append(line)
    found = {normalized(re.split(r"[\s<>=!~;\[]", line, maxsplit=1)[0]) for line in lines}
    if found != layer.packages:
        raise RuntimeError(f"requirements.txt does not pin {sorted(layer.packages - found)} for the {layer.short_name}"
                           " layer")
    return lines


def layer_filename(project_dir: Path, layer: Layer, python_version: str,
                   architecture: str = DEFAULT_LAMBDA_ARCHITECTURE) -> Path:
    key = hashlib.sha256("\n".join([*layer_requirements(project_dir, layer), python_version, architecture]).encode())
    suffix = "" if architecture == DEFAULT_LAMBDA_ARCHITECTURE else f"-{architecture}"
    return (project_dir / ".chalice" / "deployments" /
            f"layer-{layer.short_name}-{key.hexdigest()[:32]}-{python_version}{suffix}.zip")


def build_layer(project_dir: Path, layer: Layer, python_version: str,
                architecture: str = DEFAULT_LAMBDA_ARCHITECTURE) -> Path:
    """The layer zip (cached): the layer's pinned packages installed for Lambda under `python/`."""
    output = layer_filename(project_dir, layer, python_version, architecture)
    if output.exists():
        return output
    abi = LambdaDeploymentPackager._RUNTIME_TO_ABI[python_version]
    with tempfile.TemporaryDirectory() as tmp:
        requirements, site_packages = Path(tmp) / "requirements.txt", Path(tmp) / "site-packages"
        requirements.write_text("\n".join(layer_requirements(project_dir, layer)) + "\n", encoding="utf-8")
        site_packages.mkdir()
        function_builder(architecture, PipDependencyBuilder).build_site_packages(
            abi, str(requirements), str(site_packages))
        if not any(site_packages.iterdir()):
            raise RuntimeError(f"no {python_version} {architecture} wheel for {sorted(layer.packages)}")
        output.parent.mkdir(parents=True, exist_ok=True)
        # A unique temporary name in the same folder, then an atomic rename: two builds at once (two test
        # workers, two deploys) each write their own file, and whichever renames last wins with identical
        # bytes (the zip is reproducible), so a reader never sees a half-written layer.
        with tempfile.NamedTemporaryFile(dir=output.parent, prefix=output.name, suffix=".partial",
                                         delete=False) as partial:
            pass
        try:
            _write_reproducible_zip(site_packages, Path(partial.name), LAYER_PREFIX)
            os.replace(partial.name, output)
        finally:
            Path(partial.name).unlink(missing_ok=True)
    return output


def _write_reproducible_zip(directory: Path, output: Path, prefix: str) -> None:
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as z:
        for path in files:
            info = zipfile.ZipInfo(f"{prefix}/{path.relative_to(directory).as_posix()}", date_time=_FIXED_ZIP_TIME)
            info.external_attr = (0o100000 | (path.stat().st_mode & 0o777)) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, path.read_bytes())


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
