"""The carrier simulator of the dev stack: it delivers what the shop ships with its default carrier.

It stands in for the carrier's systems, outside the app: an internal queue subscribed to the events
topic (OrderShipped only) with a queue delay of `STOREFRONT_DEV_CARRIER_SECONDS` (default 30, at
most SQS's 900; 0 turns the simulator off) holds each shipment until it is "delivered"; then the
simulator calls `POST /carrier/events` with `DELIVERED`, signed as a real carrier signs, with the
current version of the shared secret read from Secrets Manager. Shipments with another carrier are
left alone (that carrier would report them), so a test can leave one undelivered.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import boto3

from chalicelib import settings
from chalicelib.clock import now_iso
from chalicelib.fulfilment.carrier import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from chalicelib.fulfilment.service import DEFAULT_CARRIER

MAX_DELAY_SECONDS = 900


class CarrierSimulator:
    def __init__(self, api_url: str, endpoint_url: str, region: str, delay_seconds: int,
                 log: Callable[[str], None]) -> None:
        self.api_url, self.delay_seconds, self.log = api_url, min(MAX_DELAY_SECONDS, delay_seconds), log
        session = boto3.session.Session(region_name=region)
        self.sqs = session.client("sqs", endpoint_url=endpoint_url)
        self.sns = session.client("sns", endpoint_url=endpoint_url)
        self.secrets = session.client("secretsmanager", endpoint_url=endpoint_url)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.queue_url = ""

    def start(self) -> None:
        name = settings.resource_name("local-carrier")
        self.queue_url = self.sqs.create_queue(QueueName=name, Attributes={
            "DelaySeconds": str(self.delay_seconds), "VisibilityTimeout": "5"})["QueueUrl"]
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
        arn = attributes["Attributes"]["QueueArn"]
        self.sns.subscribe(TopicArn=settings.get_settings().events_topic_arn, Protocol="sqs", Endpoint=arn,
                           Attributes={"RawMessageDelivery": "true",
                                       "FilterPolicy": json.dumps({"event_type": ["OrderShipped"]})})
        self._thread = threading.Thread(target=self._run, name="carrier-simulator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10,
                                                    WaitTimeSeconds=1).get("Messages", [])
                for message in messages:
                    if self._deliver(json.loads(message["Body"])):
                        self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
            except Exception as exc:  # the simulator keeps running, as a carrier's systems would
                self.log(f"carrier simulator: {exc!r}")
                self._stop.wait(1)

    def _deliver(self, envelope: dict[str, Any]) -> bool:
        """True when the shipment is done with (delivered, or not this carrier's)."""
        data = envelope.get("data", {})
        if data.get("carrier") != DEFAULT_CARRIER or not data.get("tracking_number"):
            return True
        body = json.dumps({"tracking_number": data["tracking_number"], "status": "DELIVERED",
                           "occurred_at": now_iso()}).encode()
        secret = json.loads(self.secrets.get_secret_value(
            SecretId=settings.carrier_secret_name(), VersionStage="AWSCURRENT")["SecretString"])["secret"]
        timestamp = str(int(time.time()))
        request = urllib.request.Request(f"{self.api_url}/carrier/events", data=body, method="POST", headers={
            "Content-Type": "application/json", TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(secret, timestamp, body)})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        self.log(f"carrier simulator: DELIVERED {data['tracking_number']} -> HTTP {status}")
        return status < 500  # a 5xx is retried after the visibility timeout
