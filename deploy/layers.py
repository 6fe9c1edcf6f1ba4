"""The stage's layers (`storefront-<stage>-<layer>`, deploy/packaging.py LAYERS): published before
`chalice deploy`, deleted by `make destroy`.

The layer zip is reproducible (deploy/packaging.py), so its sha256, kept as the layer version's
description (Lambda layers take no tags), tells whether the latest published version already has
this content: then it is reused and no new version is published.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.settings import resource_name
from deploy.packaging import Layer, sha256_of

DESCRIPTION_PREFIX = "sha256:"


@dataclass(frozen=True)
class PublishedLayer:
    name: str
    version_arn: str
    sha256: str
    published: bool  # False when the latest version already had this content


def layer_name(stage: str, layer: Layer) -> str:
    return resource_name(layer.short_name, stage)


def versions(lambda_client: Any, name: str) -> list[dict[str, Any]]:
    found = []
    for page in lambda_client.get_paginator("list_layer_versions").paginate(LayerName=name):
        found.extend(page.get("LayerVersions", []))
    return sorted(found, key=lambda v: v["Version"])


def publish(lambda_client: Any, stage: str, layer: Layer, zip_path: Path, python_version: str,
            architecture: str) -> PublishedLayer:
    """Publish the zip as a new version of the stage's layer, unless the latest version has the same sha256."""
    name, digest = layer_name(stage, layer), sha256_of(zip_path)
    existing = versions(lambda_client, name)
    if existing and existing[-1].get("Description") == f"{DESCRIPTION_PREFIX}{digest}":
        return PublishedLayer(name, existing[-1]["LayerVersionArn"], digest, published=False)
    response = lambda_client.publish_layer_version(
        LayerName=name, Description=f"{DESCRIPTION_PREFIX}{digest}", Content={"ZipFile": zip_path.read_bytes()},
        CompatibleRuntimes=[python_version], CompatibleArchitectures=[architecture])
    return PublishedLayer(name, response["LayerVersionArn"], digest, published=True)


def delete(lambda_client: Any, stage: str, layer: Layer) -> int:
    """Delete every version of the stage's layer; return how many there were."""
    name = layer_name(stage, layer)
    existing = versions(lambda_client, name)
    for version in existing:
        lambda_client.delete_layer_version(LayerName=name, VersionNumber=version["Version"])
    return len(existing)
