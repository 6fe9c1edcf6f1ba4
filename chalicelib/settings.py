"""Typed settings read from the environment.

The same code runs on moto and on AWS: only the environment differs. Settings are read when asked
for, never frozen into module constants at import, because `chalice.test.Client` sets a stage's
environment variables only while a call runs. Resource *names* are deterministic per stage
(`storefront-<stage>-<name>`), so event decorators can take them at import time; the uploads
bucket's, which the stack decides, comes from the stage's environment, set before the import.
"""

from __future__ import annotations

import os

import msgspec

PROJECT = "storefront"

# Environment variable names: one place, shared by the app, infra/ outputs and devstack/.
STAGE = "STOREFRONT_STAGE"
EVENTS_TOPIC_ARN = "STOREFRONT_EVENTS_TOPIC_ARN"
OUTBOX_STREAM_ARN = "STOREFRONT_OUTBOX_STREAM_ARN"
USER_POOL_ID = "STOREFRONT_USER_POOL_ID"
USER_POOL_CLIENT_ID = "STOREFRONT_USER_POOL_CLIENT_ID"
ORDER_PAYMENT_TIMEOUT_MINUTES = "ORDER_PAYMENT_TIMEOUT_MINUTES"
# "true" on the local stage only: sign-ups are confirmed at once instead of by emailed code.
AUTO_CONFIRM_SIGNUPS = "STOREFRONT_AUTO_CONFIRM_SIGNUPS"
# The verified SES identity notification emails are sent from (infra/template.yaml SenderEmail).
SENDER_EMAIL = "STOREFRONT_SENDER_EMAIL"
DEFAULT_SENDER_EMAIL = "noreply@storefront.example"
# The web app's origin, the one origin the API allows through CORS. Deployed stages set it in
# .chalice/config.json (their CloudFront URL); the local stage follows the dev stack's web port.
WEB_ORIGIN = "STOREFRONT_WEB_ORIGIN"
WEB_PORT = "STOREFRONT_WEB_PORT"
DEFAULT_WEB_PORT = "8001"
# Placeholder used before a stage's stack exists (e.g. `chalice local` with no outbox yet).
UNSET_STREAM_ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/unset/stream/unset"


def stage() -> str:
    return os.environ.get(STAGE, "local")


def web_origin() -> str | None:
    """The origin allowed to call the API from a browser, or None (no cross-origin access).

    Read once, at import, by `web.route()`: CORS is part of the API's definition. `STOREFRONT_WEB_ORIGIN`
    wins; without it the local stage allows `http://127.0.0.1:<STOREFRONT_WEB_PORT or 8001>`, where
    `make dev` serves web/, and any other stage allows no origin at all.
    """
    env = os.environ
    if env.get(WEB_ORIGIN):
        return env[WEB_ORIGIN]
    if stage() == "local":
        return f"http://127.0.0.1:{env.get(WEB_PORT) or DEFAULT_WEB_PORT}"
    return None


def resource_name(name: str, stage_name: str | None = None) -> str:
    """`storefront-<stage>-<name>`: the deterministic name of a stage's resource."""
    return f"{PROJECT}-{stage_name or stage()}-{name}"


def parameter_name(name: str, stage_name: str | None = None) -> str:
    """`/storefront/<stage>/<name>`: the deterministic name of a stage's SSM parameter.

    Like resource names it comes from the stage alone, not from an environment variable: the IAM
    policy (deploy/policies.py) is derived from the same function, so the two cannot disagree.
    """
    return f"/{PROJECT}/{stage_name or stage()}/{name}"


# The payment provider's API key: a SecureString parameter, `parameter_name(PAYMENT_PROVIDER_API_KEY)`.
# CloudFormation cannot create SecureString parameters, so infra/parameters.py does (docs/deploy.md).
PAYMENT_PROVIDER_API_KEY = "payment-provider-api-key"


class Settings(msgspec.Struct, frozen=True):
    stage: str
    region: str
    events_topic_arn: str
    outbox_stream_arn: str
    user_pool_id: str
    user_pool_client_id: str
    order_payment_timeout_minutes: float
    auto_confirm_signups: bool
    sender_email: str

    def name(self, short: str) -> str:
        return resource_name(short, self.stage)


def aws_region() -> str:
    """The region every client of the app uses: Lambda's AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def get_settings() -> Settings:
    env = os.environ
    return Settings(
        stage=stage(),
        region=aws_region(),
        events_topic_arn=env.get(EVENTS_TOPIC_ARN, ""),
        outbox_stream_arn=env.get(OUTBOX_STREAM_ARN, UNSET_STREAM_ARN),
        user_pool_id=env.get(USER_POOL_ID, ""),
        user_pool_client_id=env.get(USER_POOL_CLIENT_ID, ""),
        order_payment_timeout_minutes=float(env.get(ORDER_PAYMENT_TIMEOUT_MINUTES, "15")),
        auto_confirm_signups=env.get(AUTO_CONFIRM_SIGNUPS, "false").lower() == "true",
        sender_email=env.get(SENDER_EMAIL) or DEFAULT_SENDER_EMAIL,
    )


# --- S3 uploads: catalog imports and product images (chalicelib/imports, chalicelib/images) ---
UPLOADS_BUCKET = "uploads"  # short name of the local stage's bucket, resource_name(UPLOADS_BUCKET)
# The uploads bucket's name, from the stack output UploadsBucketName. Deployed stages' names carry
# their account and region (bucket names are global), so only the stack knows them; `make deploy`
# writes it into the stage's environment, which Chalice sets before importing app.py, so the S3
# event decorators can read it at import.
UPLOADS_BUCKET_NAME = "STOREFRONT_UPLOADS_BUCKET"
IMPORTS_QUEUE = "imports"  # short name of the queue that carries an import's remaining byte ranges
IMPORT_MAX_BYTES = "IMPORT_MAX_BYTES"  # an import file larger than this ends FAILED
DEFAULT_IMPORT_MAX_BYTES = 50 * 1024 * 1024
IMPORT_CHUNK_ROWS = "IMPORT_CHUNK_ROWS"  # rows one invocation handles at most before handing on
DEFAULT_IMPORT_CHUNK_ROWS = 200_000
IMAGE_MAX_BYTES = "IMAGE_MAX_BYTES"  # a product image larger than this is rejected
DEFAULT_IMAGE_MAX_BYTES = 5 * 1024 * 1024
# Where clients GET product images: `<base>/<key>`. Unset: the bucket's own S3 URL (see docs/imports.md).
MEDIA_BASE_URL = "STOREFRONT_MEDIA_BASE_URL"


class UploadSettings(msgspec.Struct, frozen=True):
    bucket: str
    imports_queue: str
    import_max_bytes: int
    import_chunk_rows: int
    image_max_bytes: int
    media_base_url: str  # "" means: the bucket's S3 URL


def uploads_bucket() -> str:
    """The uploads bucket: STOREFRONT_UPLOADS_BUCKET, or without it the local stage's
    `storefront-<stage>-uploads` (the name the template gives the local stage's bucket)."""
    return os.environ.get(UPLOADS_BUCKET_NAME) or resource_name(UPLOADS_BUCKET)


def upload_settings() -> UploadSettings:
    env = os.environ
    return UploadSettings(
        bucket=uploads_bucket(),
        imports_queue=resource_name(IMPORTS_QUEUE),
        import_max_bytes=int(env.get(IMPORT_MAX_BYTES) or DEFAULT_IMPORT_MAX_BYTES),
        import_chunk_rows=max(1, int(env.get(IMPORT_CHUNK_ROWS) or DEFAULT_IMPORT_CHUNK_ROWS)),
        image_max_bytes=int(env.get(IMAGE_MAX_BYTES) or DEFAULT_IMAGE_MAX_BYTES),
        media_base_url=(env.get(MEDIA_BASE_URL) or "").rstrip("/"),
    )


# --- Live updates (chalicelib/realtime): the stage's WebSocket API, which `chalice deploy` creates ---
# Its id and stage, from which each function that posts to connections builds the management
# endpoint (https://<id>.execute-api.<region>.amazonaws.com/<stage>). `make deploy` sets the id once
# Chalice has created the API (deploy/flow.py); the dev stack sets the id its gateway uses.
WEBSOCKET_API_ID = "STOREFRONT_WEBSOCKET_API_ID"
WEBSOCKET_STAGE = "STOREFRONT_WEBSOCKET_STAGE"
DEFAULT_WEBSOCKET_STAGE = "api"  # Chalice deploys the WebSocket API on api_gateway_stage (.chalice/config.json)
REALTIME_QUEUE = "realtime"  # short name of the pusher's queue
WAREHOUSE_QUEUE = "warehouse"  # short name of the queue of the warehouse's packing requests


def websocket_api() -> tuple[str, str]:
    """(api id, stage) of the stage's WebSocket API; the id is "" until the API exists."""
    env = os.environ
    return env.get(WEBSOCKET_API_ID, ""), env.get(WEBSOCKET_STAGE) or DEFAULT_WEBSOCKET_STAGE


# --- Fulfilment (chalicelib/fulfilment): the workflow, its deadlines, the warehouse and the carrier ---
FULFILMENT_STATE_MACHINE_ARN = "STOREFRONT_FULFILMENT_STATE_MACHINE_ARN"  # stack output
CARRIER_SECRET_ARN = "STOREFRONT_CARRIER_SECRET_ARN"  # stack output: the carrier webhook's secret
SHIP_DEADLINE_HOURS = "SHIP_DEADLINE_HOURS"  # fractions allowed (the dev stack sets seconds' worth)
DELIVERY_DEADLINE_DAYS = "DELIVERY_DEADLINE_DAYS"
WAREHOUSE_PACK_SECONDS = "WAREHOUSE_PACK_SECONDS"  # how long the warehouse simulator takes to pack
CARRIER_WEBHOOK_SECRET = "carrier-webhook-secret"  # short name: storefront/<stage>/carrier-webhook-secret


def carrier_secret_name(stage_name: str | None = None) -> str:
    """`storefront/<stage>/carrier-webhook-secret`, the Secrets Manager name of the webhook's secret."""
    return f"{PROJECT}/{stage_name or stage()}/{CARRIER_WEBHOOK_SECRET}"


class FulfilmentSettings(msgspec.Struct, frozen=True):
    state_machine_arn: str
    carrier_secret_arn: str
    ship_deadline_seconds: int
    delivery_deadline_seconds: int
    pack_seconds: int  # 0..900 (SQS's maximum message delay)


def fulfilment_settings() -> FulfilmentSettings:
    env = os.environ
    ship_hours = float(env.get(SHIP_DEADLINE_HOURS) or 48)
    delivery_days = float(env.get(DELIVERY_DEADLINE_DAYS) or 14)
    return FulfilmentSettings(
        state_machine_arn=env.get(FULFILMENT_STATE_MACHINE_ARN, ""),
        carrier_secret_arn=env.get(CARRIER_SECRET_ARN, ""),
        ship_deadline_seconds=max(1, round(ship_hours * 3600)),
        delivery_deadline_seconds=max(1, round(delivery_days * 86400)),
        pack_seconds=min(900, max(0, int(float(env.get(WAREHOUSE_PACK_SECONDS) or 3)))),
    )
