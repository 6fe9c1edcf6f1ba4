"""In-process AWS for fast tests: moto's mock_aws with the stage's resources created by the same
provisioning code `make dev` uses, from infra/template.yaml. Created once per test process; tests
share it the way they would share a real dev account, so each one uses its own unique ids.
"""

from __future__ import annotations

import gzip
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
import moto
from moto import mock_aws

from devstack.provision import provision

REGION = "us-east-1"
MOTO_JWKS = Path(moto.__file__).parent / "cognitoidp" / "resources" / "jwks-public.json.gz"


def moto_public_jwks(url: str) -> dict:
    """What moto server serves at `/<pool>/.well-known/jwks.json`; mock_aws does not intercept urllib."""
    with gzip.open(MOTO_JWKS) as f:
        return json.load(f)


@contextmanager
def local_stack(stage: str = "local") -> Iterator[dict[str, str]]:
    with mock_aws():
        env = provision(stage, None, REGION)
        previous = {key: os.environ.get(key) for key in env}
        os.environ.update(env)
        try:
            yield env
        finally:
            for key, value in previous.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def probe_queue(topic_arn: str) -> str:
    """A fresh queue that receives every event published to the topic (raw envelopes)."""
    sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName=f"probe-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    return url


def drain(queue_url: str, max_messages: int = 100) -> list[dict]:
    sqs = boto3.client("sqs", region_name=REGION)
    out: list[dict] = []
    while len(out) < max_messages:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                    MessageAttributeNames=["All"]).get("Messages", [])
        if not batch:
            return out
        out.extend(batch)
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)])
    return out
