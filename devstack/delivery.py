"""Local event delivery: what Lambda's event sources do in AWS, done against moto server.

`EventDelivery` reads the Chalice app's own registry (`app.event_sources`, blueprints included)
and, for every SQS, SNS, S3, DynamoDB-stream and schedule handler, runs a poller in a daemon
thread that builds Lambda's event dict and calls `app.handler_map[name](event, context)`, exactly
as the Lambda runtime calls the deployed function:

- SQS: long-polls the handler's queue; deletes a message only once its handler succeeded and
  honours `{"batchItemFailures": [...]}`. Retries and the DLQ come from the queue's own
  visibility timeout and RedrivePolicy.
- SNS and S3: each handler gets an internal queue `storefront-<stage>-local-<kind>-<handler>`
  (with a DLQ after 3 receives, standing in for Lambda's async retries and on-failure
  destination), subscribed to the topic / named in the bucket's notification configuration.
- DynamoDB streams: a fresh shard iterator on every poll (AFTER_SEQUENCE_NUMBER of the last
  processed record), so each committed record is read once and in commit order (moto's own stream is
  made faithful by devstack/moto_fixes.py), polled like Lambda polls a shard: about 4 times a second,
  at once again after a full batch. A failing batch is retried 3 times, then logged and skipped.
- Schedules: `rate(...)` expressions on a timer (`schedule_interval_override` replaces them all).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from chalice.app import (
    Chalice,
    DynamoDBEventConfig,
    S3EventConfig,
    ScheduledEventConfig,
    ScheduleExpression,
    SNSEventConfig,
    SQSEventConfig,
)

from devstack import iam, lambda_events, metering

RESOURCE_PREFIX = "storefront"
INTERNAL_QUEUE_MAX_RECEIVE_COUNT = 3  # Lambda's async invocation: 1 try + 2 retries
SQS_MAX_BATCH = 10  # ReceiveMessage's limit
LONG_POLL_SECONDS = 1  # short, so that stop() is prompt
# Lambda polls each shard of a DynamoDB stream about four times a second, and at once again only while a
# full batch says more is waiting: so does this poller (STOREFRONT_DEV_STREAM_POLL_SECONDS), so that a
# stream hop costs locally what it costs on AWS (bench/latency.py).
STREAM_POLL_SECONDS = 0.25
STREAM_MAX_RETRIES = 3
STREAM_RETRY_BACKOFF_SECONDS = 0.2  # doubled on each retry
STREAM_MAX_RECORDS = 1000  # GetRecords' limit
POLL_ERROR_BACKOFF_SECONDS = (0.5, 10.0)  # first and longest wait after a failed AWS call
S3_NOTIFICATION_ID_PREFIX = "local-delivery-"
SUPPORTED_SOURCES = (SQSEventConfig, SNSEventConfig, S3EventConfig, DynamoDBEventConfig, ScheduledEventConfig)
_RATE_EXPRESSION = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_RATE_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


class UnsupportedEventSourceError(ValueError):
    """The app registers an event source that local delivery cannot emulate."""


@dataclass(frozen=True)
class Outcome:
    """What one invocation reported: success, a partial batch failure, or an error for all."""

    all_failed: bool = False
    failed_ids: frozenset[str] = frozenset()

    @property
    def ok(self) -> bool:
        return not self.all_failed and not self.failed_ids


class Poller(Protocol):
    kind: str
    handler_name: str
    first_delay: float

    def poll(self) -> float:
        """Deliver what is available; return the seconds to wait before the next poll."""
        ...


class HandlerInvoker:
    """Calls a handler the way the Lambda runtime does and logs one line per invocation."""

    def __init__(self, app: Chalice, stage: str, region: str, log: Callable[[str], None]) -> None:
        self._app = app
        self._stage = stage
        self._region = region
        self._log = log

    def function_name(self, handler_name: str) -> str:
        return f"{self._app.app_name}-{self._stage}-{handler_name}"

    def invoke(
        self, kind: str, handler_name: str, event: dict[str, Any], item_ids: Sequence[str] | None = None
    ) -> Outcome:
        """Invoke one handler. `item_ids` (message ids or sequence numbers) enables batchItemFailures."""
        handler = self._app.handler_map[handler_name]
        context = lambda_events.lambda_context(self.function_name(handler_name), self._region)
        records = len(event.get("Records", [])) or 1
        started = time.monotonic()
        try:
            with iam.running_as(handler_name):  # its AWS calls are checked against its own role's policy
                response = handler(event, context)
        except Exception as exc:  # a handler error must never kill the poller
            outcome, summary = Outcome(all_failed=True), f"error {type(exc).__name__}: {exc}"
        else:
            outcome = _batch_outcome(response, item_ids) if item_ids is not None else Outcome()
            summary = _summary(outcome)
        elapsed_ms = (time.monotonic() - started) * 1000
        self._log(f"delivery {kind} {handler_name} records={records} {summary} {elapsed_ms:.0f}ms")
        if metering.enabled():
            metering.write({"kind": "invocation", "function": handler_name, "source": kind, "records": records,
                            "ms": elapsed_ms})
        return outcome


def _batch_outcome(response: Any, item_ids: Sequence[str]) -> Outcome:
    """Lambda's reading of a batch response: an unknown or empty itemIdentifier fails the batch."""
    if not isinstance(response, dict) or not response.get("batchItemFailures"):
        return Outcome()
    failures = response["batchItemFailures"]
    if not isinstance(failures, list):
        return Outcome(all_failed=True)
    known = set(item_ids)
    failed = [item.get("itemIdentifier") if isinstance(item, dict) else None for item in failures]
    if any(item_id not in known for item_id in failed):
        return Outcome(all_failed=True)
    return Outcome(failed_ids=frozenset(failed))


def _summary(outcome: Outcome) -> str:
    if outcome.all_failed:
        return "error invalid batchItemFailures response"
    if outcome.failed_ids:
        return f"partial failure {len(outcome.failed_ids)}"
    return "ok"


@dataclass
class Queue:
    """An SQS queue as the pollers use it: receive everything about a message, delete by batch."""

    client: Any
    url: str
    arn: str

    def receive(self, max_messages: int) -> list[dict[str, Any]]:
        response = self.client.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=max(1, min(max_messages, SQS_MAX_BATCH)),
            WaitTimeSeconds=LONG_POLL_SECONDS,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return response.get("Messages", [])

    def delete(self, messages: Sequence[dict[str, Any]]) -> None:
        if not messages:
            return
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
        response = self.client.delete_message_batch(QueueUrl=self.url, Entries=entries)
        if response.get("Failed"):
            raise RuntimeError(f"could not delete messages from {self.url}: {response['Failed']}")


@dataclass
class SqsPoller:
    """One `@on_sqs_message` handler: a batch per invocation, deletes what succeeded."""

    config: SQSEventConfig
    queue: Queue
    invoker: HandlerInvoker
    region: str
    kind: str = "sqs"
    first_delay: float = 0

    @property
    def handler_name(self) -> str:
        return self.config.name

    def poll(self) -> float:
        messages = self.queue.receive(self.config.batch_size)
        if not messages:
            return 0
        records = [lambda_events.sqs_record(m, self.queue.arn, self.region) for m in messages]
        outcome = self.invoker.invoke(
            self.kind, self.handler_name, lambda_events.records_event(records),
            item_ids=[record["messageId"] for record in records],
        )
        if not outcome.all_failed:
            self.queue.delete([m for m in messages if m["MessageId"] not in outcome.failed_ids])
        return 0


@dataclass
class NotificationPoller:
    """One `@on_sns_message` or `@on_s3_event` handler, fed by its internal queue.

    Lambda invokes these asynchronously with one record per invocation; `records_of` turns one
    queue message (an SNS or S3 notification) into its Lambda records (an s3:TestEvent has none).
    A message is deleted only when every one of its records was handled.
    """

    config: SNSEventConfig | S3EventConfig
    queue: Queue
    invoker: HandlerInvoker
    log: Callable[[str], None]
    kind: str  # "sns" or "s3"
    records_of: Callable[[dict[str, Any]], list[dict[str, Any]]]
    first_delay: float = 0

    @property
    def handler_name(self) -> str:
        return self.config.name

    def poll(self) -> float:
        delivered = [m for m in self.queue.receive(SQS_MAX_BATCH) if self._deliver(m)]
        self.queue.delete(delivered)
        return 0

    def _deliver(self, message: dict[str, Any]) -> bool:
        try:
            records = self.records_of(json.loads(message["Body"]))
        except (ValueError, KeyError, TypeError) as exc:
            self.log(f"delivery {self.kind} {self.handler_name}: not an {self.kind.upper()} notification "
                     f"({exc!r}); left in queue")
            return False
        all_ok = True
        for record in records:
            outcome = self.invoker.invoke(self.kind, self.handler_name, lambda_events.records_event([record]))
            all_ok = all_ok and outcome.ok
        return all_ok


@dataclass
class ShardPosition:
    last_sequence_number: str | None = None  # None: read the shard from its start
    finished: bool = False  # a closed shard read to its end


@dataclass
class StreamPoller:
    """One `@on_dynamodb_record` handler.

    Takes a fresh iterator on every poll (as a poller must once an iterator expires, after 15 minutes
    on AWS), keeps the last processed sequence number per shard, reads parents before children and
    picks up shards that appear later from their start.
    """

    config: DynamoDBEventConfig
    client: Any
    invoker: HandlerInvoker
    region: str
    stopping: threading.Event
    log: Callable[[str], None]
    kind: str = "dynamodb"
    first_delay: float = 0
    positions: dict[str, ShardPosition] = field(default_factory=dict)
    poll_seconds: float = STREAM_POLL_SECONDS

    @property
    def handler_name(self) -> str:
        return self.config.name

    def start_positions(self) -> None:
        """Record where each existing shard starts: its beginning, or its current end for LATEST."""
        for shard in self._shards():
            position = self.positions.setdefault(shard["ShardId"], ShardPosition())
            if self.config.starting_position == "LATEST":
                position.last_sequence_number = self._last_sequence_number(shard["ShardId"])

    def poll(self) -> float:
        backlog = False
        for shard in self._shards():
            position = self.positions.setdefault(shard["ShardId"], ShardPosition())
            if position.finished or self._parent_unfinished(shard):
                continue
            backlog = self._deliver_next_batch(shard["ShardId"], position) or backlog
        return 0 if backlog else self.poll_seconds

    def _shards(self) -> list[dict[str, Any]]:
        shards: list[dict[str, Any]] = []
        request: dict[str, Any] = {"StreamArn": self.config.stream_arn}
        while True:
            description = self.client.describe_stream(**request)["StreamDescription"]
            shards.extend(description.get("Shards", []))
            if not description.get("LastEvaluatedShardId"):
                return shards
            request["ExclusiveStartShardId"] = description["LastEvaluatedShardId"]

    def _parent_unfinished(self, shard: dict[str, Any]) -> bool:
        parent = self.positions.get(shard.get("ParentShardId", ""))
        return parent is not None and not parent.finished

    def _read(self, shard_id: str, after: str | None, limit: int) -> dict[str, Any]:
        if after is None:
            iterator_request: dict[str, Any] = {"ShardIteratorType": "TRIM_HORIZON"}
        else:
            iterator_request = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": after}
        iterator = self.client.get_shard_iterator(
            StreamArn=self.config.stream_arn, ShardId=shard_id, **iterator_request
        )["ShardIterator"]
        return self.client.get_records(ShardIterator=iterator, Limit=limit)

    def _last_sequence_number(self, shard_id: str) -> str | None:
        last = None
        while records := self._read(shard_id, last, STREAM_MAX_RECORDS).get("Records", []):
            last = records[-1]["dynamodb"]["SequenceNumber"]
        return last

    def _deliver_next_batch(self, shard_id: str, position: ShardPosition) -> bool:
        """Deliver the shard's next batch; True if it was full (more records are likely waiting)."""
        limit = max(1, min(self.config.batch_size, STREAM_MAX_RECORDS))
        response = self._read(shard_id, position.last_sequence_number, limit)
        stream_records = response.get("Records", [])
        if not stream_records:
            position.finished = response.get("NextShardIterator") is None
            return False
        records = [
            lambda_events.dynamodb_record(r, self.config.stream_arn, self.region) for r in stream_records
        ]
        self._deliver_with_retries(records, position)
        return len(stream_records) >= limit

    def _deliver_with_retries(self, records: list[dict[str, Any]], position: ShardPosition) -> None:
        """Deliver a batch; on failure retry (from the first failed record), then log and skip it."""
        attempts = 1 + STREAM_MAX_RETRIES
        for attempt in range(attempts):
            if attempt and self.stopping.wait(STREAM_RETRY_BACKOFF_SECONDS * 2 ** (attempt - 1)):
                return  # stopping: leave the position where it is
            sequence_numbers = [record["dynamodb"]["SequenceNumber"] for record in records]
            outcome = self.invoker.invoke(
                self.kind, self.handler_name, lambda_events.records_event(records), item_ids=sequence_numbers
            )
            if outcome.ok:
                position.last_sequence_number = sequence_numbers[-1]
                return
            if not outcome.all_failed:
                first_failed = min(sequence_numbers.index(item_id) for item_id in outcome.failed_ids)
                if first_failed:
                    position.last_sequence_number = sequence_numbers[first_failed - 1]
                records = records[first_failed:]
        skipped = [record["dynamodb"]["SequenceNumber"] for record in records]
        self.log(
            f"delivery dynamodb {self.handler_name} FAILED after {attempts} attempts; skipping "
            f"{len(skipped)} records, sequence numbers {', '.join(skipped)}"
        )
        position.last_sequence_number = skipped[-1]


@dataclass
class SchedulePoller:
    """One `@app.schedule` handler on a timer; the first event fires one interval after start."""

    config: ScheduledEventConfig
    interval: float
    rule_arn: str
    invoker: HandlerInvoker
    region: str
    kind: str = "schedule"

    @property
    def handler_name(self) -> str:
        return self.config.name

    @property
    def first_delay(self) -> float:
        return self.interval

    def poll(self) -> float:
        self.fire()
        return self.interval

    def fire(self) -> None:
        self.invoker.invoke(self.kind, self.handler_name, lambda_events.scheduled_event(self.rule_arn, self.region))


def schedule_interval_seconds(expression: str | ScheduleExpression) -> float:
    """Seconds between events of a `rate(N minute(s)|hour(s)|day(s))` expression."""
    text = expression.to_string() if isinstance(expression, ScheduleExpression) else expression
    match = _RATE_EXPRESSION.match(text.strip())
    if match is None:
        raise UnsupportedEventSourceError(
            f"schedule {text!r}: local delivery supports only rate(N minute(s)|hour(s)|day(s)),"
            " not cron() expressions"
        )
    value, unit = int(match.group(1)), match.group(2).rstrip("s")
    if value < 1:
        raise UnsupportedEventSourceError(f"schedule {text!r}: the rate must be at least 1")
    return float(value * _RATE_UNIT_SECONDS[unit])


class EventDelivery:
    """Delivers SQS, SNS, S3, DynamoDB-stream and schedule events to a Chalice app's handlers."""

    def __init__(
        self,
        app: Chalice,
        *,
        endpoint_url: str,
        region: str,
        stage: str,
        visibility_timeout: int = 30,
        schedule_interval_override: float | None = None,
        stream_poll_seconds: float = STREAM_POLL_SECONDS,
        log: Callable[[str], None] = print,
    ) -> None:
        self._app = app
        self._endpoint_url = endpoint_url
        self._region = region
        self._stage = stage
        self._visibility_timeout = visibility_timeout
        self._schedule_interval_override = schedule_interval_override
        self._stream_poll_seconds = stream_poll_seconds
        self._log = log
        self._invoker = HandlerInvoker(app, stage, region, log)
        self._session = _emulator_session(region)
        self._stopping = threading.Event()
        self._pollers: list[Poller] = []
        self._threads: list[threading.Thread] = []
        self._is_set_up = False

    # --- public interface ---

    def setup(self) -> None:
        """Check the app's event sources and create the local wiring (queues, subscriptions, ...)."""
        if self._is_set_up:
            raise RuntimeError("EventDelivery.setup() already ran")
        sources = list(self._app.event_sources)
        _check_supported(sources)
        s3_targets: dict[str, list[tuple[S3EventConfig, Queue]]] = defaultdict(list)
        for config in sources:
            match config:
                case SQSEventConfig():
                    self._pollers.append(self._sqs_poller(config))
                case SNSEventConfig():
                    self._pollers.append(self._sns_poller(config))
                case S3EventConfig():
                    queue = self._internal_queue("s3", config.name)
                    s3_targets[config.bucket].append((config, queue))
                    self._pollers.append(NotificationPoller(config, queue, self._invoker, self._log, "s3",
                                                            lambda_events.s3_records))
                case DynamoDBEventConfig():
                    self._pollers.append(self._stream_poller(config))
                case ScheduledEventConfig():
                    self._pollers.append(self._schedule_poller(config))
        for bucket, targets in s3_targets.items():
            self._configure_bucket_notifications(bucket, targets)
        self._is_set_up = True
        handlers = ", ".join(f"{p.kind} {p.handler_name}" for p in self._pollers) or "none"
        self._log(f"event delivery set up for: {handlers}")

    def start(self) -> None:
        """Start one daemon thread per handler (runs setup() first if it has not run)."""
        if not self._is_set_up:
            self.setup()
        if self._threads:
            raise RuntimeError("EventDelivery.start() already ran")
        for poller in self._pollers:
            thread = threading.Thread(
                target=self._run, args=(poller,), name=f"delivery-{poller.kind}-{poller.handler_name}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5) -> None:
        """Stop every poller and wait (up to `timeout` seconds in all) for running handlers to end."""
        self._stopping.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        still_running = [thread.name for thread in self._threads if thread.is_alive()]
        if still_running:
            self._log(f"delivery: still running after {timeout}s (daemon threads): {', '.join(still_running)}")

    def run_schedules_now(self) -> None:
        """Fire every schedule handler once, in the calling thread."""
        for poller in self._pollers:
            if isinstance(poller, SchedulePoller):
                poller.fire()

    # --- the poller threads ---

    def _run(self, poller: Poller) -> None:
        first_backoff, longest_backoff = POLL_ERROR_BACKOFF_SECONDS
        backoff = first_backoff
        delay = poller.first_delay
        while not self._stopping.wait(delay):
            try:
                delay = poller.poll()
                backoff = first_backoff
            except Exception as exc:  # AWS unreachable (moto restarting), throttled, ...
                self._log(
                    f"delivery {poller.kind} {poller.handler_name}: polling failed "
                    f"({type(exc).__name__}: {exc}); retrying in {backoff:.1f}s"
                )
                delay, backoff = backoff, min(backoff * 2, longest_backoff)

    # --- wiring per source ---

    def _client(self, service: str) -> Any:
        config = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=30)
        return self._session.client(service, endpoint_url=self._endpoint_url, config=config)

    def _sqs_poller(self, config: SQSEventConfig) -> SqsPoller:
        sqs = self._client("sqs")
        try:
            if config.queue_arn:
                _, _, _, _, account, queue_name = config.queue_arn.split(":", 5)
                url = sqs.get_queue_url(QueueName=queue_name, QueueOwnerAWSAccountId=account)["QueueUrl"]
            else:
                url = sqs.get_queue_url(QueueName=config.queue)["QueueUrl"]
        except ClientError as exc:
            raise LookupError(
                f"queue {config.queue or config.queue_arn!r} of handler {config.name} not found at "
                f"{self._endpoint_url}: {exc}"
            ) from exc
        return SqsPoller(config, Queue(sqs, url, _queue_arn(sqs, url)), self._invoker, self._region)

    def _sns_poller(self, config: SNSEventConfig) -> NotificationPoller:
        sns = self._client("sns")
        topic_arn = self._topic_arn(sns, config)
        queue = self._internal_queue("sns", config.name)
        subscription_arn = _existing_subscription(sns, topic_arn, queue.arn) or sns.subscribe(
            TopicArn=topic_arn, Protocol="sqs", Endpoint=queue.arn, ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
        return NotificationPoller(config, queue, self._invoker, self._log, "sns",
                                  lambda body: [lambda_events.sns_record(body, subscription_arn)])

    def _topic_arn(self, sns: Any, config: SNSEventConfig) -> str:
        if config.topic.startswith("arn:"):
            return config.topic
        for page in sns.get_paginator("list_topics").paginate():
            for topic in page["Topics"]:
                if topic["TopicArn"].rsplit(":", 1)[-1] == config.topic:
                    return topic["TopicArn"]
        raise LookupError(f"SNS topic {config.topic!r} of handler {config.name} not found at {self._endpoint_url}")

    def _internal_queue(self, kind: str, handler_name: str) -> Queue:
        """The handler's own queue (and its DLQ) standing in for Lambda's async invocation queue."""
        sqs = self._client("sqs")
        name = _internal_queue_name(f"{RESOURCE_PREFIX}-{self._stage}-local-{kind}-{handler_name}")
        dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        redrive = {"deadLetterTargetArn": _queue_arn(sqs, dlq_url), "maxReceiveCount": INTERNAL_QUEUE_MAX_RECEIVE_COUNT}
        sqs.set_queue_attributes(QueueUrl=url, Attributes={
            "VisibilityTimeout": str(self._visibility_timeout), "RedrivePolicy": json.dumps(redrive),
        })
        return Queue(sqs, url, _queue_arn(sqs, url))

    def _configure_bucket_notifications(self, bucket: str, targets: list[tuple[S3EventConfig, Queue]]) -> None:
        """One notification configuration for the bucket: every handler's queue, others' entries kept."""
        s3 = self._client("s3")
        try:
            current = s3.get_bucket_notification_configuration(Bucket=bucket)
        except ClientError as exc:
            handlers = ", ".join(config.name for config, _ in targets)
            raise LookupError(f"bucket {bucket!r} of handlers {handlers} not found at {self._endpoint_url}") from exc
        current.pop("ResponseMetadata", None)
        kept = [c for c in current.get("QueueConfigurations", [])
                if not c.get("Id", "").startswith(S3_NOTIFICATION_ID_PREFIX)]
        ours = [_queue_configuration(config, queue.arn) for config, queue in targets]
        s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={**current, "QueueConfigurations": kept + ours},
        )

    def _stream_poller(self, config: DynamoDBEventConfig) -> StreamPoller:
        poller = StreamPoller(config, self._client("dynamodbstreams"), self._invoker, self._region,
                              self._stopping, self._log, poll_seconds=self._stream_poll_seconds)
        try:
            poller.start_positions()
        except ClientError as exc:
            raise LookupError(
                f"stream {config.stream_arn!r} of handler {config.name} not found at {self._endpoint_url}: {exc}"
            ) from exc
        return poller

    def _schedule_poller(self, config: ScheduledEventConfig) -> SchedulePoller:
        interval = schedule_interval_seconds(config.schedule_expression)  # validates cron too
        if self._schedule_interval_override is not None:
            interval = self._schedule_interval_override
        rule_arn = lambda_events.schedule_rule_arn(self._invoker.function_name(config.name), self._region)
        return SchedulePoller(config, interval, rule_arn, self._invoker, self._region)


def _check_supported(sources: Sequence[Any]) -> None:
    for config in sources:
        if not isinstance(config, SUPPORTED_SOURCES):
            raise UnsupportedEventSourceError(
                f"handler {config.name}: {type(config).__name__} has no local delivery (supported: SQS, SNS,"
                " S3, DynamoDB streams and rate() schedules)"
            )
        if isinstance(config, ScheduledEventConfig):
            schedule_interval_seconds(config.schedule_expression)


def _emulator_session(region: str) -> boto3.session.Session:
    """A session for the emulator; moto accepts any credentials, so supply some if none are set."""
    session = boto3.session.Session(region_name=region)
    if session.get_credentials() is None:
        session = boto3.session.Session(
            region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing"
        )
    return session


def _queue_arn(sqs: Any, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def _internal_queue_name(name: str) -> str:
    """A valid SQS name (letters, digits, - and _; at most 80 with the `-dlq` suffix)."""
    name = re.sub(r"[^A-Za-z0-9_-]", "-", name)
    if len(name) <= 76:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name[:67]}-{digest}"


def _existing_subscription(sns: Any, topic_arn: str, queue_arn: str) -> str | None:
    for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn):
        for subscription in page["Subscriptions"]:
            if subscription["Protocol"] == "sqs" and subscription["Endpoint"] == queue_arn:
                return subscription["SubscriptionArn"]
    return None


def _queue_configuration(config: S3EventConfig, queue_arn: str) -> dict[str, Any]:
    queue_configuration: dict[str, Any] = {
        "Id": f"{S3_NOTIFICATION_ID_PREFIX}{config.name}",
        "QueueArn": queue_arn,
        "Events": list(config.events),
    }
    rules = [{"Name": name, "Value": value}
             for name, value in (("prefix", config.prefix), ("suffix", config.suffix)) if value]
    if rules:
        queue_configuration["Filter"] = {"Key": {"FilterRules": rules}}
    return queue_configuration
