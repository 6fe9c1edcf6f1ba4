"""Typed settings read from the environment.

The same code runs on moto and on AWS: only the environment differs. Settings are read when asked
for, never frozen into module constants at import, because `chalice.test.Client` sets a stage's
environment variables only while a call runs. Resource *names* are deterministic per stage
(`storefront-<stage>-<name>`), so event decorators can take them at import time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

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
# Placeholder used before a stage's stack exists (e.g. `chalice local` with no outbox yet).
UNSET_STREAM_ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/unset/stream/unset"


def stage() -> str:
    return os.environ.get(STAGE, "local")


def resource_name(name: str, stage_name: str | None = None) -> str:
    """`storefront-<stage>-<name>`: the deterministic name of a stage's resource."""
    return f"{PROJECT}-{stage_name or stage()}-{name}"


@dataclass(frozen=True)
class Settings:
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


def get_settings() -> Settings:
    env = os.environ
    return Settings(
        stage=stage(),
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        events_topic_arn=env.get(EVENTS_TOPIC_ARN, ""),
        outbox_stream_arn=env.get(OUTBOX_STREAM_ARN, UNSET_STREAM_ARN),
        user_pool_id=env.get(USER_POOL_ID, ""),
        user_pool_client_id=env.get(USER_POOL_CLIENT_ID, ""),
        order_payment_timeout_minutes=float(env.get(ORDER_PAYMENT_TIMEOUT_MINUTES, "15")),
        auto_confirm_signups=env.get(AUTO_CONFIRM_SIGNUPS, "false").lower() == "true",
        sender_email=env.get(SENDER_EMAIL) or DEFAULT_SENDER_EMAIL,
    )
