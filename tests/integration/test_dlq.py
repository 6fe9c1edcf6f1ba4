"""`python -m deploy.dlq` against the local stage's queues, created from infra/template.yaml in
in-process moto by the same provisioning `make dev` uses (the `stack` fixture)."""

from __future__ import annotations

import json

import boto3
import pytest

from chalicelib.settings import resource_name
from deploy import dlq
from tests.aws import REGION, drain
from tests.events import received

pytestmark = [pytest.mark.usefixtures("stack"), pytest.mark.xdist_group("dlq")]

STAGE = "local"


@pytest.fixture
def sqs():
    return boto3.client("sqs", region_name=REGION)


@pytest.fixture
def queues(sqs):
    """The payments queue and its dead-letter queue, both empty."""
    urls = {short: sqs.get_queue_url(QueueName=resource_name(short, STAGE))["QueueUrl"]
            for short in ("payments", "payments-dlq")}
    for url in urls.values():
        drain(url)
    return urls


def dead_letter(sqs, url: str, count: int) -> list[tuple[str, dict]]:
    """`count` event envelopes put into the queue as SNS delivers them (raw, with `event_type`)."""
    sent = []
    for i in range(count):
        event = received("OrderPlaced", correlation_id=f"corr-{i}")
        attributes = {"event_type": {"DataType": "String", "StringValue": event.event_type}}
        sqs.send_message(QueueUrl=url, MessageBody=event.to_json(), MessageAttributes=attributes)
        sent.append((event.to_json(), attributes))
    return sent


def as_sent(messages: list[dict]) -> list[tuple[str, dict]]:
    return sorted((m["Body"], {name: {"DataType": v["DataType"], "StringValue": v["StringValue"]}
                               for name, v in m.get("MessageAttributes", {}).items()}) for m in messages)


def run(*argv: str) -> tuple[int, str]:
    lines: list[str] = []
    code = dlq.main(list(argv), log=lines.append)
    return code, "\n".join(lines)


def test_the_dead_letter_queues_are_the_templates(queues):
    assert dlq.dead_letter_queues() == ["payments-dlq", "orders-dlq", "notifications-dlq", "imports-dlq",
                                        "realtime-dlq", "outbox-stream-dlq", "async-events-dlq",
                                        "events-delivery-dlq", "fulfilment-dlq", "fulfilment-tasks-dlq",
                                        "warehouse-dlq"]


def test_list_shows_every_dead_letter_queue_with_its_depth_and_source(sqs, queues):
    dead_letter(sqs, queues["payments-dlq"], 2)

    code, out = run("list", "--stage", STAGE)

    assert code == 0
    rows = {line.split()[0]: line.split(None, 3)[1:] for line in out.splitlines()[1:]}
    assert set(rows) == {resource_name(short, STAGE) for short in dlq.dead_letter_queues()}
    assert rows["storefront-local-payments-dlq"] == ["2", "0", "storefront-local-payments"]
    assert rows["storefront-local-orders-dlq"][2] == "storefront-local-orders"
    assert rows["storefront-local-outbox-stream-dlq"][2] == "(Lambda failure destination)"


def test_inspect_prints_the_messages_and_leaves_them_in_the_queue(sqs, queues):
    sent = dead_letter(sqs, queues["payments-dlq"], 3)

    code, out = run("inspect", "--stage", STAGE, "--queue", "payments-dlq")

    assert code == 0
    for body, _ in sent:
        event = json.loads(body)
        assert f"event OrderPlaced {event['event_id']}  correlation {event['correlation_id']}" in out
        assert f'"order_id": "{event["data"]["order_id"]}"' in out  # the body, pretty-printed
    assert out.count("receives 1  sent ") == 3
    assert "attribute event_type = OrderPlaced" in out
    assert out.endswith("3 message(s) shown from storefront-local-payments-dlq, left in the queue")
    assert dlq.depth(sqs, queues["payments-dlq"]) == (3, 0)  # visible again at once
    assert as_sent(drain(queues["payments-dlq"])) == sorted(sent)


def test_inspect_shows_at_most_max_messages(sqs, queues):
    dead_letter(sqs, queues["payments-dlq"], 3)

    code, out = run("inspect", "--stage", STAGE, "--queue", "payments-dlq", "--max", "2")

    assert code == 0 and out.count("event OrderPlaced") == 2
    assert dlq.depth(sqs, queues["payments-dlq"]) == (3, 0)


def test_redrive_moves_every_message_back_to_its_source_queue_unchanged(sqs, queues):
    sent = dead_letter(sqs, queues["payments-dlq"], 12)  # more than one batch of 10

    code, out = run("redrive", "--stage", STAGE, "--queue", "payments-dlq")

    assert code == 0
    assert out == "12 message(s) moved from storefront-local-payments-dlq to storefront-local-payments, 0 not moved"
    assert dlq.depth(sqs, queues["payments-dlq"]) == (0, 0)
    assert as_sent(drain(queues["payments"])) == sorted(sent)


def test_redrive_moves_at_most_max_messages(sqs, queues):
    sent = dead_letter(sqs, queues["payments-dlq"], 3)

    code, out = run("redrive", "--stage", STAGE, "--queue", "payments-dlq", "--max", "2")

    assert code == 0 and out.startswith("2 message(s) moved")
    moved, left = drain(queues["payments"]), drain(queues["payments-dlq"])
    assert (len(moved), len(left)) == (2, 1)
    assert as_sent(moved + left) == sorted(sent)


def test_a_dry_run_moves_nothing(sqs, queues):
    sent = dead_letter(sqs, queues["payments-dlq"], 2)

    code, out = run("redrive", "--stage", STAGE, "--queue", "payments-dlq", "--dry-run")

    assert code == 0
    assert out.splitlines()[-1] == ("dry run: 2 message(s) would move from storefront-local-payments-dlq "
                                    "to storefront-local-payments; nothing moved")
    assert dlq.depth(sqs, queues["payments"]) == (0, 0)
    assert as_sent(drain(queues["payments-dlq"])) == sorted(sent)


def test_an_unknown_queue_is_refused_with_the_known_ones(queues, capsys):
    code, _ = run("inspect", "--stage", STAGE, "--queue", "payments")

    assert code == 2
    error = capsys.readouterr().err
    assert "'payments' is not a dead-letter queue of the template; one of: payments-dlq, orders-dlq" in error


def test_a_stage_that_is_not_deployed_is_refused(queues, capsys):
    code, _ = run("inspect", "--stage", "nosuchstage", "--queue", "payments-dlq")

    assert code == 2
    assert "queue storefront-nosuchstage-payments-dlq does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("queue, hint", [("outbox-stream-dlq", "read those records from the stream"),
                                         ("async-events-dlq", "invoke the function again with that event")])
def test_lambda_failure_destinations_cannot_be_redriven(sqs, queues, capsys, queue, hint):
    url = sqs.get_queue_url(QueueName=resource_name(queue, STAGE))["QueueUrl"]
    drain(url)
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"requestContext": {"condition": "RetriesExhausted"}}))

    code, _ = run("redrive", "--stage", STAGE, "--queue", queue)

    assert code == 2
    error = capsys.readouterr().err
    assert f"storefront-local-{queue} cannot be redriven" in error and hint in error
    assert dlq.depth(sqs, url) == (1, 0)


def test_python_m_deploy_dlq_is_the_same_command(queues, capsys):
    from deploy.__main__ import main

    assert main(["dlq", "list", "--stage", STAGE]) == 0
    assert "storefront-local-payments-dlq" in capsys.readouterr().out
