"""What Chalice cannot configure, set with boto3 after `chalice deploy`:

- every SQS event source mapping reports partial batch failures (`ReportBatchItemFailures`), so a
  batch retries only the messages its handler reported as failed;
- the DynamoDB stream mapping retries a failing batch a bounded number of times, bisecting it to
  isolate the bad record, then sends the record's metadata to the outbox-stream-dlq queue instead of
  blocking the shard until the record expires (24 h);
- every asynchronously invoked function (S3, SNS, schedule) retries twice, then sends the event to
  the async-events-dlq queue.

The functions and mappings are read from Chalice's deployed state (`.chalice/deployed/<stage>.json`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.settings import resource_name

STREAM_MAX_RETRY_ATTEMPTS = 5
STREAM_MAX_RECORD_AGE_SECONDS = 6 * 3600
ASYNC_MAX_RETRY_ATTEMPTS = 2
ASYNC_MAX_EVENT_AGE_SECONDS = 6 * 3600
STREAM_FAILURES_QUEUE = "outbox-stream-dlq"
ASYNC_FAILURES_QUEUE = "async-events-dlq"
# Chalice's deployed resource types of asynchronously invoked functions.
ASYNC_EVENT_TYPES = ("s3_event", "sns_event", "cloudwatch_event", "scheduled_event")


@dataclass(frozen=True)
class Target:
    """Where a stage lives: its account, region and partition (read from STS and the session)."""

    account: str
    region: str
    partition: str = "aws"

    def queue_arn(self, stage: str, short_name: str) -> str:
        return f"arn:{self.partition}:sqs:{self.region}:{self.account}:{resource_name(short_name, stage)}"


def resources_of(deployed: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [r for r in deployed.get("resources", []) if r.get("resource_type") == resource_type]


def function_name(lambda_arn: str) -> str:
    return lambda_arn.rsplit(":", 1)[1]


def configure_event_sources(lambda_client: Any, deployed: dict[str, Any], stage: str, target: Target) -> list[str]:
    """Apply the settings above; return one line per change, for the deploy's report."""
    done = []
    for mapping in resources_of(deployed, "sqs_event"):
        lambda_client.update_event_source_mapping(UUID=mapping["event_uuid"],
                                                  FunctionResponseTypes=["ReportBatchItemFailures"])
        done.append(f"{mapping['queue']}: ReportBatchItemFailures")
    for mapping in resources_of(deployed, "dynamodb_event"):
        lambda_client.update_event_source_mapping(
            UUID=mapping["event_uuid"],
            MaximumRetryAttempts=STREAM_MAX_RETRY_ATTEMPTS,
            MaximumRecordAgeInSeconds=STREAM_MAX_RECORD_AGE_SECONDS,
            BisectBatchOnFunctionError=True,
            DestinationConfig={"OnFailure": {"Destination": target.queue_arn(stage, STREAM_FAILURES_QUEUE)}},
        )
        done.append(f"{mapping['name']}: stream retries {STREAM_MAX_RETRY_ATTEMPTS}, bisect, on-failure queue")
    for name in async_function_names(deployed):
        lambda_client.put_function_event_invoke_config(
            FunctionName=name,
            MaximumRetryAttempts=ASYNC_MAX_RETRY_ATTEMPTS,
            MaximumEventAgeInSeconds=ASYNC_MAX_EVENT_AGE_SECONDS,
            DestinationConfig={"OnFailure": {"Destination": target.queue_arn(stage, ASYNC_FAILURES_QUEUE)}},
        )
        done.append(f"{name}: async retries {ASYNC_MAX_RETRY_ATTEMPTS}, on-failure queue")
    return done


def async_function_names(deployed: dict[str, Any]) -> list[str]:
    """Functions with an S3, SNS or schedule event source. Chalice records a schedule's rule without
    its function; its resource is named after the function (`<function>-event`), as the others are."""
    functions = {r["name"]: function_name(r["lambda_arn"]) for r in resources_of(deployed, "lambda_function")}
    names = set()
    for event_type in ASYNC_EVENT_TYPES:
        for resource in resources_of(deployed, event_type):
            owner = max((f for f in functions if resource["name"].startswith(f"{f}-")), key=len, default=None)
            if owner is None:
                raise KeyError(f"no deployed function for event source {resource['name']}")
            names.add(functions[owner])
    return sorted(names)
