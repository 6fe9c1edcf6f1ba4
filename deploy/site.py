"""`make deploy`'s last step: web/ into the stage's site bucket with the stage's `config.js`, objects no
longer in web/ deleted, then one CloudFront invalidation of `/*` so the edge serves the new files at
once (docs/deploy.md, docs/web.md).

Runs after `chalice deploy`, the step that makes the API's and the WebSocket API's URLs known.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy.post_deploy import rest_api, websocket_api
from infra.site import CONFIG_SCRIPT, WEB_ROOT, cache_control, config_script, content_type, site_files

_DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys


@dataclass(frozen=True)
class PublishedSite:
    url: str
    bucket: str
    uploaded: tuple[str, ...]
    deleted: tuple[str, ...]
    invalidation_id: str


def api_url(deployed: dict[str, Any]) -> str:
    """The REST API's URL without the trailing slash (the dev stack's form)."""
    return rest_api(deployed)["rest_api_url"].rstrip("/")


def websocket_url(deployed: dict[str, Any]) -> str:
    """The WebSocket API's URL without the trailing slash (`wss://<id>.execute-api.<region>.amazonaws.com/<stage>`)."""
    api = websocket_api(deployed)
    if api is None or not api.get("websocket_api_url"):
        raise ValueError("the deployed state has no WebSocket API with a websocket_api_url")
    return api["websocket_api_url"].rstrip("/")


def publish(s3: Any, cloudfront: Any, *, bucket: str, distribution_id: str, site_url: str, api_url: str,
            root: Path = WEB_ROOT, websocket_url: str = "") -> PublishedSite:
    """Upload every file of `root` and the generated `config.js`, delete the bucket's other objects,
    invalidate `/*` on the distribution."""
    bodies = {key: path.read_bytes() for key, path in site_files(root).items()}
    bodies[CONFIG_SCRIPT] = config_script(api_url, websocket_url)
    for key, body in bodies.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type(key),
                      CacheControl=cache_control(key))
    stale = [key for key in _keys(s3, bucket) if key not in bodies]
    for start in range(0, len(stale), _DELETE_BATCH):
        batch = [{"Key": key} for key in stale[start:start + _DELETE_BATCH]]
        s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
    invalidation = cloudfront.create_invalidation(DistributionId=distribution_id, InvalidationBatch={
        "Paths": {"Quantity": 1, "Items": ["/*"]}, "CallerReference": uuid.uuid4().hex,
    })["Invalidation"]
    return PublishedSite(site_url, bucket, tuple(bodies), tuple(stale), invalidation["Id"])


def publish_stage(session: Any, outputs: dict[str, str], deployed: dict[str, Any]) -> PublishedSite:
    """`publish` to the site bucket and distribution named by the stage's stack outputs."""
    return publish(session.client("s3"), session.client("cloudfront"), bucket=outputs["SiteBucketName"],
                   distribution_id=outputs["SiteDistributionId"], site_url=outputs["SiteUrl"],
                   api_url=api_url(deployed), websocket_url=websocket_url(deployed))


def _keys(s3: Any, bucket: str) -> list[str]:
    return [item["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for item in page.get("Contents", [])]
