"""The fulfilment state machine, behind plain functions: start, stop, complete a wait, read a status.

One execution per paid order, named after the order id: Step Functions refuses a second execution
of that name (ExecutionAlreadyExists), or returns the running one when the input is the same, so a
start is idempotent and a redelivered PaymentSucceeded never makes a second run. Completing a wait
(SendTaskSuccess) whose token is no longer waited on (completed already, or replaced after a
deadline) is no error here: whoever holds the newer token completes it (docs/architecture.md).
"""

from __future__ import annotations

import json

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import aws
from chalicelib.observability import logger
from chalicelib.settings import fulfilment_settings

# Tokens Step Functions no longer waits on: the task finished, timed out, or was never this execution's.
_STALE_TOKEN_CODES = frozenset({"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"})
# Step Functions' execution statuses as GET /orders/{id}/fulfilment reports them.
_REPORTED = {"RUNNING": "RUNNING", "SUCCEEDED": "SUCCEEDED", "ABORTED": "ABORTED", "FAILED": "FAILED",
             "TIMED_OUT": "FAILED", "PENDING_REDRIVE": "FAILED"}


def execution_arn(order_id: str) -> str:
    """`arn:...:execution:<state machine name>:<order id>` (the ARN Step Functions gives the execution)."""
    machine = fulfilment_settings().state_machine_arn
    prefix, _, name = machine.rpartition(":stateMachine:")
    return f"{prefix}:execution:{name}:{order_id}"


def start(order_id: str, correlation_id: str) -> None:
    """Start the order's execution, named after it; one that exists already is success."""
    config = fulfilment_settings()
    execution_input = json.dumps({"order_id": order_id, "correlation_id": correlation_id,
                                  "ship_deadline_seconds": config.ship_deadline_seconds,
                                  "delivery_deadline_seconds": config.delivery_deadline_seconds}, sort_keys=True)
    try:
        aws.client("stepfunctions").start_execution(stateMachineArn=config.state_machine_arn, name=order_id,
                                                    input=execution_input)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ExecutionAlreadyExists":
            raise
        logger.info("fulfilment already started", extra={"order_id": order_id})
        return
    logger.info("fulfilment started", extra={"order_id": order_id})


def stop(order_id: str) -> None:
    """Stop the order's execution (ABORTED); one that does not exist (yet, or any more) is no error."""
    try:
        aws.client("stepfunctions").stop_execution(executionArn=execution_arn(order_id), error="OrderCancelled",
                                                   cause="The order was cancelled")
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ExecutionDoesNotExist":
            raise
    logger.info("fulfilment stopped", extra={"order_id": order_id})


def stop_soon(order_id: str) -> None:
    """`stop`, for a caller whose own change has committed: a failure is logged, and the relay of the
    committed event (OrderCancelled) stops the execution instead."""
    try:
        stop(order_id)
    except (ClientError, BotoCoreError):
        logger.warning("fulfilment not stopped yet; the relay will", extra={"order_id": order_id}, exc_info=True)


def complete(task_token: str) -> bool:
    """End the wait on `task_token` (SendTaskSuccess); False when that token is no longer waited on."""
    try:
        aws.client("stepfunctions").send_task_success(taskToken=task_token, output="{}")
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in _STALE_TOKEN_CODES:
            raise
        logger.info("task token no longer waited on", extra={"code": exc.response["Error"]["Code"]})
        return False
    return True


def complete_soon(task_token: str | None, order_id: str) -> None:
    """`complete`, for a caller whose own change has committed: a failure is logged, and the relay of
    the committed event completes the wait instead."""
    if not task_token:
        return
    try:
        complete(task_token)
    except (ClientError, BotoCoreError):
        logger.warning("fulfilment wait not completed yet; the relay will", extra={"order_id": order_id},
                       exc_info=True)


def status(order_id: str) -> str | None:
    """The execution's status as the API reports it; None when it does not exist (not started yet)."""
    try:
        found = aws.client("stepfunctions").describe_execution(executionArn=execution_arn(order_id))
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ExecutionDoesNotExist":
            raise
        return None
    return _REPORTED.get(found["status"], "FAILED")
