"""`python -m deploy.dlq {list,inspect,redrive} --stage <stage>`: look into a stage's dead-letter queues
and move their messages back to the queue they came from (docs/operations.md).

The dead-letter queues are the template's queues named `storefront-<stage>-*-dlq`; a queue's source is
whichever queue names it in its RedrivePolicy (`ListDeadLetterSourceQueues`). Credentials, region and
endpoint come from the environment (boto3), so the same command works on AWS and on moto server.

`inspect` does not consume: it receives with a short visibility timeout and makes what it received
visible again at once. `redrive` sends each message to the source queue (same body and message
attributes) before deleting it from the dead-letter queue: a crash in between leaves a duplicate,
never a loss, and consumers are idempotent on `event_id`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3

from chalicelib.events.envelope import InvalidEvent, parse
from chalicelib.settings import resource_name
from deploy.post_deploy import ASYNC_FAILURES_QUEUE, STREAM_FAILURES_QUEUE
from infra.stack import load_template

DLQ_SUFFIX = "-dlq"
SQS_BATCH = 10  # the most messages one ReceiveMessage / SendMessageBatch / DeleteMessageBatch takes
# Long polling (> 0) asks every SQS server; short polling samples a few and may answer "empty" while
# messages wait. One second is enough for a queue that is not being written to.
RECEIVE_WAIT_SECONDS = 1
# How long received messages stay hidden while a command holds them: they are made visible again
# (inspect, dry run) or deleted (redrive) as soon as the command is done with them.
HOLD_SECONDS = 60
# Lambda failure destinations: nothing to redrive them to, and what to do instead.
NO_SOURCE = {
    STREAM_FAILURES_QUEUE: (
        "its messages are Lambda's records of outbox stream batches the publisher gave up on (stream ARN, "
        "shard id, first and last sequence numbers), not events: there is no queue to send them back to. "
        "Fix the cause, then read those records from the stream (within its 24 h retention) or the events' "
        "items from the outbox table, and publish their bodies to the events topic with the message "
        "attribute event_type; consumers ignore an event_id they have already applied. "
        "Delete the dead-letter messages once done."),
    ASYNC_FAILURES_QUEUE: (
        "its messages are Lambda's records of failed asynchronous invocations (S3, SNS, schedule): "
        "requestContext.functionArn names the function and requestPayload is the original event. "
        "Fix the cause, then invoke the function again with that event "
        "(aws lambda invoke --invocation-type Event --function-name <functionArn> "
        "--cli-binary-format raw-in-base64-out --payload <requestPayload> /dev/null); "
        "delete the dead-letter message once done."),
}

Log = Callable[[str], None]


class DlqError(Exception):
    """A request the command refuses (unknown queue, nothing to redrive to): exit code 2."""


def dead_letter_queues() -> list[str]:
    """Short names (`payments-dlq`, ...) of the template's dead-letter queues, in template order."""
    prefix = resource_name("", "${Stage}")
    names = []
    for resource in load_template()["Resources"].values():
        if resource["Type"] != "AWS::SQS::Queue":
            continue
        name = resource["Properties"]["QueueName"]["Fn::Sub"]
        if name.startswith(prefix) and name.endswith(DLQ_SUFFIX):
            names.append(name.removeprefix(prefix))
    return names


@dataclass(frozen=True)
class Queue:
    short_name: str
    name: str
    url: str


def queue_of(sqs: Any, stage: str, short_name: str) -> Queue:
    known = dead_letter_queues()
    if short_name not in known:
        raise DlqError(f"{short_name!r} is not a dead-letter queue of the template; one of: {', '.join(known)}")
    name = resource_name(short_name, stage)
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except sqs.exceptions.QueueDoesNotExist:
        raise DlqError(f"queue {name} does not exist: is stage {stage!r} deployed to this account and region?") \
            from None
    return Queue(short_name, name, url)


def source_queue_urls(sqs: Any, dlq_url: str) -> list[str]:
    """The queues whose RedrivePolicy sends their failures to this one."""
    pages = sqs.get_paginator("list_dead_letter_source_queues").paginate(QueueUrl=dlq_url)
    return sorted(url for page in pages for url in page.get("queueUrls", []))


def depth(sqs: Any, url: str) -> tuple[int, int]:
    """(messages waiting, messages in flight), both approximate as SQS reports them."""
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def receive(sqs: Any, url: str, limit: int | None) -> Iterator[list[dict[str, Any]]]:
    """Batches of received messages (held for HOLD_SECONDS) until the queue answers empty or `limit`
    messages were received. What was received stays hidden, so no message comes twice in one run."""
    received = 0
    while limit is None or received < limit:
        count = SQS_BATCH if limit is None else min(SQS_BATCH, limit - received)
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=count, VisibilityTimeout=HOLD_SECONDS,
                                    WaitTimeSeconds=RECEIVE_WAIT_SECONDS, MessageAttributeNames=["All"],
                                    MessageSystemAttributeNames=["All"]).get("Messages", [])
        if not batch:
            return
        received += len(batch)
        yield batch


def release(sqs: Any, url: str, messages: list[dict[str, Any]]) -> None:
    """Make received messages visible again at once."""
    for start in range(0, len(messages), SQS_BATCH):
        sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
            for i, m in enumerate(messages[start:start + SQS_BATCH])])


def peek(sqs: Any, url: str, limit: int | None) -> list[dict[str, Any]]:
    """Up to `limit` messages (all if None), left in the queue (their receive count goes up by one)."""
    messages = [m for batch in receive(sqs, url, limit) for m in batch]
    release(sqs, url, messages)
    return messages


def describe(message: dict[str, Any]) -> str:
    """A message for people: id, receive count, sent time, what it is, and its body pretty-printed."""
    attributes = message.get("Attributes", {})
    sent = attributes.get("SentTimestamp")
    sent_at = datetime.fromtimestamp(int(sent) / 1000, UTC).isoformat().replace("+00:00", "Z") if sent else "?"
    lines = [f"message {message['MessageId']}  receives {attributes.get('ApproximateReceiveCount', '?')}  "
             f"sent {sent_at}"]
    try:
        event = parse(message["Body"])
        lines.append(f"  event {event.event_type} {event.event_id}  correlation {event.correlation_id}")
    except InvalidEvent:
        pass
    for name, value in sorted(message.get("MessageAttributes", {}).items()):
        lines.append(f"  attribute {name} = {value.get('StringValue', '<binary>')}")
    try:
        body = json.dumps(json.loads(message["Body"]), indent=2, sort_keys=True)
    except ValueError:
        body = message["Body"]
    lines.extend(f"  {line}" for line in body.splitlines())
    return "\n".join(lines)


def outgoing_attributes(message: dict[str, Any]) -> dict[str, Any]:
    """The message attributes as SendMessage takes them back (without the empty list fields)."""
    keep = ("DataType", "StringValue", "BinaryValue")
    return {name: {k: v[k] for k in keep if k in v} for name, v in message.get("MessageAttributes", {}).items()}


@dataclass(frozen=True)
class Redriven:
    source: str
    moved: int  # with dry_run: how many would move
    failed: int
    dry_run: bool = False


def redrive_target(sqs: Any, queue: Queue) -> str:
    if queue.short_name in NO_SOURCE:
        raise DlqError(f"{queue.name} cannot be redriven: {NO_SOURCE[queue.short_name]}")
    sources = source_queue_urls(sqs, queue.url)
    if len(sources) != 1:
        named = ", ".join(queue_name_of(url) for url in sources) or "none"
        raise DlqError(f"{queue.name} is the dead-letter queue of {len(sources)} queues ({named}): "
                       "there is no single queue to send its messages back to")
    return sources[0]


def redrive(sqs: Any, queue: Queue, limit: int | None, dry_run: bool = False, log: Log = print) -> Redriven:
    """Send up to `limit` messages (all if None) back to the source queue, then delete them here."""
    source = redrive_target(sqs, queue)
    if dry_run:
        messages = peek(sqs, queue.url, limit)
        for message in messages:
            log(f"would move {message['MessageId']}")
        return Redriven(source, len(messages), 0, dry_run=True)
    moved = failed = 0
    for batch in receive(sqs, queue.url, limit):
        sent = sqs.send_message_batch(QueueUrl=source, Entries=[
            {"Id": str(i), "MessageBody": m["Body"], "MessageAttributes": outgoing_attributes(m)}
            for i, m in enumerate(batch)])
        ok = [batch[int(entry["Id"])] for entry in sent.get("Successful", [])]
        refused = [batch[int(entry["Id"])] for entry in sent.get("Failed", [])]
        if ok:
            sqs.delete_message_batch(QueueUrl=queue.url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(ok)])
        if refused:
            release(sqs, queue.url, refused)
            for entry in sent["Failed"]:
                log(f"not moved {batch[int(entry['Id'])]['MessageId']}: {entry.get('Code')} {entry.get('Message')}")
        moved, failed = moved + len(ok), failed + len(refused)
    return Redriven(source, moved, failed)


def queue_name_of(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[1]


def list_queues(sqs: Any, stage: str, log: Log = print) -> None:
    log(f"{'queue':<44} {'waiting':>8} {'in flight':>10}  source")
    for short_name in dead_letter_queues():
        name = resource_name(short_name, stage)
        try:
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        except sqs.exceptions.QueueDoesNotExist:
            log(f"{name:<44} {'-':>8} {'-':>10}  (queue does not exist)")
            continue
        waiting, in_flight = depth(sqs, url)
        sources = ", ".join(queue_name_of(u) for u in source_queue_urls(sqs, url))
        log(f"{name:<44} {waiting:>8} {in_flight:>10}  {sources or '(Lambda failure destination)'}")


def main(argv: list[str] | None = None, session: boto3.Session | None = None, log: Log = print) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.dlq", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="every dead-letter queue of the stage, its depth and source queue")
    inspect = commands.add_parser("inspect", help="print messages without consuming them")
    move = commands.add_parser("redrive", help="move messages back to the queue they came from")
    for sub in (commands.choices["list"], inspect, move):
        sub.add_argument("--stage", required=True)
    for sub in (inspect, move):
        sub.add_argument("--queue", required=True, help="short name, e.g. payments-dlq")
    inspect.add_argument("--max", type=int, default=10, help="at most this many messages (default 10)")
    move.add_argument("--max", type=int, default=None, help="at most this many messages (default: all)")
    move.add_argument("--dry-run", action="store_true", help="show what would move; move nothing")
    args = parser.parse_args(argv)
    if args.command != "list" and args.max is not None and args.max < 1:
        parser.error("--max must be at least 1")

    sqs = (session or boto3.Session()).client("sqs")
    try:
        if args.command == "list":
            list_queues(sqs, args.stage, log)
            return 0
        queue = queue_of(sqs, args.stage, args.queue)
        if args.command == "inspect":
            messages = peek(sqs, queue.url, args.max)
            for message in messages:
                log(describe(message))
            log(f"{len(messages)} message(s) shown from {queue.name}, left in the queue")
            return 0
        result = redrive(sqs, queue, args.max, args.dry_run, log)
    except DlqError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    target = queue_name_of(result.source)
    if result.dry_run:
        log(f"dry run: {result.moved} message(s) would move from {queue.name} to {target}; nothing moved")
        return 0
    log(f"{result.moved} message(s) moved from {queue.name} to {target}, {result.failed} not moved")
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main())
