"""`make deploy`'s last step: the distribution's `/api/*` behaviour to the API stage, then web/ into the
stage's site bucket with the stage's `config.js`, objects no longer in web/ deleted, then one CloudFront
invalidation of `/*` so the edge serves the new files at once (docs/deploy.md, docs/web.md).

Runs after `chalice deploy`, the step that makes the API's and the WebSocket API's URLs known. The web
app calls its API on its own origin (`config.js` says `/api`): the API stage is named `api`, so
`/api/<path>` on the distribution is `/<stage>/<path>` of the REST API unchanged, and a browser makes
no CORS preflight.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy.post_deploy import rest_api, websocket_api
from infra.site import CONFIG_SCRIPT, WEB_ROOT, cache_control, config_script, content_type, site_files

_DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys
API_PATH = "/api"  # what config.js tells the web app; the API stage's name (.chalice/config.json)
API_ORIGIN_ID = "api"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # AWS managed cache policy CachingDisabled
# AWS managed origin request policy AllViewerExceptHostHeader: every header (Authorization,
# Idempotency-Key, ...), query string and cookie, but not Host, which API Gateway needs as its own.
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
_ALL_METHODS = ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"]


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
    """Route `/api/*` to the API, then `publish` to the site bucket and distribution of the stack outputs."""
    route_api(session.client("cloudfront"), outputs["SiteDistributionId"], api_url(deployed))
    return publish(session.client("s3"), session.client("cloudfront"), bucket=outputs["SiteBucketName"],
                   distribution_id=outputs["SiteDistributionId"], site_url=outputs["SiteUrl"], api_url=API_PATH,
                   websocket_url=websocket_url(deployed))


def route_api(cloudfront: Any, distribution_id: str, rest_api_url: str) -> bool:
    """Give the distribution the REST API as origin `api` and a `/api/*` behaviour to it (every method,
    nothing cached, every viewer header but Host); True if the distribution had to change.

    Not in infra/template.yaml: Chalice creates the API after the stack. A stack update that changes
    the distribution resets its configuration to the template's, and the same deploy's call here puts
    the route back."""
    domain = rest_api_url.split("//", 1)[1].split("/", 1)[0]
    response = cloudfront.get_distribution_config(Id=distribution_id)
    config = response["DistributionConfig"]
    origin = {"Id": API_ORIGIN_ID, "DomainName": domain, "OriginPath": "", "CustomHeaders": {"Quantity": 0},
              "CustomOriginConfig": {"HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "https-only",
                                     "OriginSslProtocols": {"Quantity": 1, "Items": ["TLSv1.2"]},
                                     "OriginReadTimeout": 30, "OriginKeepaliveTimeout": 5},
              "ConnectionAttempts": 3, "ConnectionTimeout": 10}
    behavior = {"PathPattern": f"{API_PATH}/*", "TargetOriginId": API_ORIGIN_ID, "ViewerProtocolPolicy": "https-only",
                "AllowedMethods": {"Quantity": len(_ALL_METHODS), "Items": _ALL_METHODS,
                                   "CachedMethods": {"Quantity": 2, "Items": ["GET", "HEAD"]}},
                "Compress": False, "CachePolicyId": CACHING_DISABLED,
                "OriginRequestPolicyId": ALL_VIEWER_EXCEPT_HOST_HEADER}
    all_origins, all_behaviors = config["Origins"].get("Items", []), config.get("CacheBehaviors", {}).get("Items", [])
    origins = [o for o in all_origins if o["Id"] != API_ORIGIN_ID]
    behaviors = [b for b in all_behaviors if b["PathPattern"] != behavior["PathPattern"]]
    current_origin = next((o for o in all_origins if o["Id"] == API_ORIGIN_ID), None)
    current_behavior = next((b for b in all_behaviors if b["PathPattern"] == behavior["PathPattern"]), None)
    if current_origin and current_origin["DomainName"] == domain and current_behavior and \
            current_behavior["TargetOriginId"] == API_ORIGIN_ID:
        return False
    config["Origins"] = {"Quantity": len(origins) + 1, "Items": [*origins, origin]}
    config["CacheBehaviors"] = {"Quantity": len(behaviors) + 1, "Items": [behavior, *behaviors]}
    cloudfront.update_distribution(Id=distribution_id, IfMatch=response["ETag"], DistributionConfig=config)
    return True


def _keys(s3: Any, bucket: str) -> list[str]:
    return [item["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for item in page.get("Contents", [])]
