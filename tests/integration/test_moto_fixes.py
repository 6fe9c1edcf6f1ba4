"""moto server as the dev stack runs it (devstack/moto_main.py, with devstack/moto_fixes.py applied)
behaves like DynamoDB where the product relies on it."""

from __future__ import annotations

import uuid

import boto3
import pytest
from botocore.exceptions import ClientError

from devstack.moto_server import MotoServer

REGION = "us-east-1"
ENDPOINT: dict[str, str] = {}


def client(service: str):
    return boto3.client(service, endpoint_url=ENDPOINT["url"], region_name=REGION,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture(scope="module", autouse=True)
def moto_server():
    with MotoServer() as moto:
        ENDPOINT["url"] = moto.endpoint_url
        yield moto


@pytest.fixture
def streamed_table():
    dynamodb = client("dynamodb")
    name = f"stream-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                          KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                          StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
    yield name
    dynamodb.delete_table(TableName=name)


def put(name: str, pk: str) -> None:
    client("dynamodb").put_item(TableName=name, Item={"pk": {"S": pk}})


def cancelled_transaction(name: str, phantom: str) -> None:
    """[Put phantom, ConditionCheck that fails]: DynamoDB writes nothing and streams nothing."""
    with pytest.raises(ClientError) as error:
        client("dynamodb").transact_write_items(TransactItems=[
            {"Put": {"TableName": name, "Item": {"pk": {"S": phantom}}}},
            {"ConditionCheck": {"TableName": name, "Key": {"pk": {"S": "absent"}},
                                "ConditionExpression": "attribute_exists(pk)"}},
        ])
    assert error.value.response["Error"]["Code"] == "TransactionCanceledException"


def shard(name: str) -> tuple[str, str]:
    arn = client("dynamodb").describe_table(TableName=name)["Table"]["LatestStreamArn"]
    streams = client("dynamodbstreams")
    return arn, streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]


def keys(records: list[dict]) -> list[str]:
    return [r["dynamodb"]["NewImage"]["pk"]["S"] for r in records]


def test_an_iterator_taken_before_a_cancelled_transaction_sees_only_committed_records(streamed_table):
    streams = client("dynamodbstreams")
    arn, shard_id = shard(streamed_table)
    put(streamed_table, "first")
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard_id,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    page = streams.get_records(ShardIterator=iterator)
    assert keys(page["Records"]) == ["first"]
    cancelled_transaction(streamed_table, "phantom")
    put(streamed_table, "second")
    assert keys(streams.get_records(ShardIterator=page["NextShardIterator"])["Records"]) == ["second"]


def test_sequence_numbers_are_never_reused_after_a_cancelled_transaction(streamed_table):
    streams = client("dynamodbstreams")
    arn, shard_id = shard(streamed_table)
    put(streamed_table, "a")
    # An iterator issued between the commit and a cancelled transaction, as a poller's two requests are.
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard_id,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    cancelled_transaction(streamed_table, "phantom")
    records = streams.get_records(ShardIterator=iterator)["Records"]
    assert keys(records) == ["a"]
    last = records[-1]["dynamodb"]["SequenceNumber"]
    put(streamed_table, "b")
    after = streams.get_shard_iterator(StreamArn=arn, ShardId=shard_id, ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                                       SequenceNumber=last)["ShardIterator"]
    later = streams.get_records(ShardIterator=after)["Records"]
    assert keys(later) == ["b"] and int(later[0]["dynamodb"]["SequenceNumber"]) > int(last)
    whole = streams.get_records(ShardIterator=streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON")["ShardIterator"])["Records"]
    assert keys(whole) == ["a", "b"]
    assert len({r["dynamodb"]["SequenceNumber"] for r in whole}) == 2
    assert client("dynamodb").get_item(
        TableName=streamed_table, Key={"pk": {"S": "phantom"}}).get("Item") is None


def waiting_execution(name: str) -> tuple[str, str]:
    """An execution of a one-state machine waiting for a task token (no timeout); (its ARN, the token)."""
    import json
    import time

    sqs, sfn = client("sqs"), client("stepfunctions")
    url = sqs.create_queue(QueueName=f"tokens-{name}")["QueueUrl"]
    definition = {"StartAt": "Wait", "States": {"Wait": {
        "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken", "End": True,
        "Parameters": {"QueueUrl": url, "MessageBody": {"token.$": "$$.Task.Token"}}}}}
    machine = sfn.create_state_machine(name=f"wait-{name}", definition=json.dumps(definition),
                                       roleArn="arn:aws:iam::123456789012:role/sfn")["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, name=name, input="{}")["executionArn"]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])
        if messages:
            return execution, json.loads(messages[0]["Body"])["token"]
    raise AssertionError("the execution never sent its task token")


def test_a_cancelled_transaction_leaves_every_item_it_touched_as_it_was(streamed_table):
    """The rollback restores the items themselves (an update applied in place, a put of a new item),
    now that the tables are no longer deep-copied whole."""
    dynamodb = client("dynamodb")
    dynamodb.put_item(TableName=streamed_table, Item={"pk": {"S": "kept"}, "n": {"N": "1"}})
    with pytest.raises(ClientError) as error:
        dynamodb.transact_write_items(TransactItems=[
            {"Update": {"TableName": streamed_table, "Key": {"pk": {"S": "kept"}},
                        "UpdateExpression": "SET n = :two", "ExpressionAttributeValues": {":two": {"N": "2"}}}},
            {"Put": {"TableName": streamed_table, "Item": {"pk": {"S": "new"}}}},
            {"ConditionCheck": {"TableName": streamed_table, "Key": {"pk": {"S": "absent"}},
                                "ConditionExpression": "attribute_exists(pk)"}},
        ])
    assert error.value.response["Error"]["Code"] == "TransactionCanceledException"
    items = dynamodb.scan(TableName=streamed_table, ConsistentRead=True)["Items"]
    assert items == [{"pk": {"S": "kept"}, "n": {"N": "1"}}]


def test_a_resent_transaction_with_its_client_token_is_not_applied_twice(streamed_table):
    """As DynamoDB does for 10 minutes: the same token and items answer like the first call (no
    condition failure, no second write); the same token with other items is refused."""
    dynamodb = client("dynamodb")
    token = uuid.uuid4().hex
    items = [{"Put": {"TableName": streamed_table, "Item": {"pk": {"S": "once"}},
                      "ConditionExpression": "attribute_not_exists(pk)"}}]
    dynamodb.transact_write_items(TransactItems=items, ClientRequestToken=token)
    dynamodb.transact_write_items(TransactItems=items, ClientRequestToken=token)  # botocore's resend
    with pytest.raises(ClientError) as error:
        dynamodb.transact_write_items(TransactItems=items)  # no token: a new transaction, refused
    assert error.value.response["Error"]["Code"] == "TransactionCanceledException"
    with pytest.raises(ClientError) as error:
        dynamodb.transact_write_items(TransactItems=[{"Put": {"TableName": streamed_table, "Item": {
            "pk": {"S": "other"}}}}], ClientRequestToken=token)
    assert error.value.response["Error"]["Code"] == "IdempotentParameterMismatchException"
    assert len(dynamodb.scan(TableName=streamed_table)["Items"]) == 1


def test_moto_server_runs_state_machines_with_its_own_port():
    """The executor is on, and its interpreter reaches SQS on this server (MOTO_PORT is its port)."""
    execution, token = waiting_execution(f"run-{uuid.uuid4().hex[:6]}")
    sfn = client("stepfunctions")
    assert sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"
    sfn.send_task_success(taskToken=token, output="{}")
    import time

    deadline = time.monotonic() + 10
    while sfn.describe_execution(executionArn=execution)["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sfn.describe_execution(executionArn=execution)["status"] == "SUCCEEDED"


def test_stop_execution_aborts_a_waiting_execution_at_once():
    execution, token = waiting_execution(f"stop-{uuid.uuid4().hex[:6]}")
    sfn = client("stepfunctions")
    sfn.stop_execution(executionArn=execution, error="Cancelled", cause="test")
    assert sfn.describe_execution(executionArn=execution)["status"] == "ABORTED"
    with pytest.raises(ClientError) as error:  # its wait is over: the token is no longer accepted
        sfn.send_task_success(taskToken=token, output="{}")
    assert error.value.response["Error"]["Code"] in ("InvalidToken", "TaskDoesNotExist", "TaskTimedOut")
