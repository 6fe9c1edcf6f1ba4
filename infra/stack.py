"""The stage's resource stack: the template, the stack name, and its outputs as app settings.

Used by the local stack (devstack/provision/) and by a real deploy against AWS alike, so nothing
here knows about moto.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from chalicelib import settings

TEMPLATE_PATH = Path(__file__).with_name("template.yaml")

# Stack output key -> the environment variable the app reads it from (chalicelib/settings.py).
OUTPUT_ENV: dict[str, str] = {
    "EventsTopicArn": settings.EVENTS_TOPIC_ARN,
    "OutboxStreamArn": settings.OUTBOX_STREAM_ARN,
    "UserPoolId": settings.USER_POOL_ID,
    "UserPoolClientId": settings.USER_POOL_CLIENT_ID,
    "UploadsBucketName": settings.UPLOADS_BUCKET_NAME,
    "FulfilmentStateMachineArn": settings.FULFILMENT_STATE_MACHINE_ARN,
    "CarrierWebhookSecretArn": settings.CARRIER_SECRET_ARN,
}


# Outputs only deployed stages read. The local stage serves web/ from 127.0.0.1 and its API allows
# that origin (settings.web_origin), so the emulated distribution's URL stays out of its environment.
DEPLOYED_OUTPUT_ENV: dict[str, str] = {
    "SiteUrl": settings.WEB_ORIGIN,
}


def load_template() -> dict[str, Any]:
    """The template as plain data (it uses long-form intrinsics only, so `safe_load` reads it)."""
    with TEMPLATE_PATH.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def stack_name(stage: str) -> str:
    """`storefront-<stage>-resources`."""
    return settings.resource_name("resources", stage)


def outputs_by_key(stack: dict[str, Any]) -> dict[str, str]:
    """`{OutputKey: OutputValue}` of one stack as returned by CloudFormation's DescribeStacks."""
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def outputs_to_env(outputs: dict[str, str], mapping: dict[str, str] = OUTPUT_ENV) -> dict[str, str]:
    """The app's environment variables from the stack outputs; a missing output is an error."""
    missing = sorted(key for key in mapping if not outputs.get(key))
    if missing:
        raise KeyError(f"stack outputs missing or empty: {', '.join(missing)}")
    return {env: outputs[key] for key, env in mapping.items()}


def deployed_outputs_to_env(outputs: dict[str, str]) -> dict[str, str]:
    """A deployed stage's environment variables from its stack outputs (`make deploy`)."""
    return outputs_to_env(outputs, {**OUTPUT_ENV, **DEPLOYED_OUTPUT_ENV})
