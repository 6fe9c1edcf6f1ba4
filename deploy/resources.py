"""The stage's resources stack (infra/template.yaml) through CloudFormation: create or update, wait,
read the outputs; delete."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from infra.stack import load_template, outputs_by_key, stack_name

STACK_TIMEOUT_SECONDS = 30 * 60.0
POLL_SECONDS = 5.0
_DONE = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"}


class StackError(RuntimeError):
    """The stack did not reach a usable state."""


def wait_for_stack(cfn: Any, name: str, timeout: float = STACK_TIMEOUT_SECONDS,
                   poll: float = POLL_SECONDS, sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Poll until the stack leaves every *_IN_PROGRESS state; return it, or raise with the reasons."""
    deadline = time.monotonic() + timeout
    while True:
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
        status = stack["StackStatus"]
        if status in _DONE:
            return stack
        if not status.endswith("_IN_PROGRESS"):
            raise StackError(f"stack {name} is {status}: {'; '.join(failure_reasons(cfn, name)) or 'no reason given'}")
        if time.monotonic() > deadline:
            raise StackError(f"stack {name} still {status} after {timeout:.0f} s")
        sleep(poll)


def failure_reasons(cfn: Any, name: str) -> list[str]:
    try:
        events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    except ClientError:
        return []
    return [f"{e['LogicalResourceId']}: {e['ResourceStatusReason']}" for e in events
            if e.get("ResourceStatus", "").endswith("_FAILED") and e.get("ResourceStatusReason")]


def _existing_status(cfn: Any, name: str) -> str | None:
    try:
        return cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise


def deploy_stack(cfn: Any, stage: str, parameters: dict[str, str], template: dict[str, Any] | None = None,
                 poll: float = POLL_SECONDS) -> dict[str, str]:
    """Create or update `storefront-<stage>-resources`; wait; return its outputs `{key: value}`."""
    name = stack_name(stage)
    request = {
        "StackName": name,
        "TemplateBody": json.dumps(template if template is not None else load_template()),
        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        "Tags": [{"Key": "storefront:stage", "Value": stage}],
    }
    status = _existing_status(cfn, name)
    if status == "ROLLBACK_COMPLETE":  # a failed first create cannot be updated, only replaced
        delete_stack(cfn, stage, poll=poll)
        status = None
    if status is None:
        cfn.create_stack(**request, OnFailure="ROLLBACK")
    else:
        try:
            cfn.update_stack(**request)
        except ClientError as exc:
            if "No updates are to be performed" not in str(exc):
                raise
    return outputs_by_key(wait_for_stack(cfn, name, poll=poll))


def delete_stack(cfn: Any, stage: str, timeout: float = STACK_TIMEOUT_SECONDS, poll: float = POLL_SECONDS,
                 sleep: Callable[[float], None] = time.sleep) -> None:
    """Delete the stack and wait until it is gone (a missing stack is already deleted)."""
    name = stack_name(stage)
    if _existing_status(cfn, name) is None:
        return
    cfn.delete_stack(StackName=name)
    deadline = time.monotonic() + timeout
    while (status := _existing_status(cfn, name)) not in (None, "DELETE_COMPLETE"):
        if status == "DELETE_FAILED":
            raise StackError(f"stack {name} is DELETE_FAILED: {'; '.join(failure_reasons(cfn, name))}")
        if time.monotonic() > deadline:
            raise StackError(f"stack {name} still {status} after {timeout:.0f} s")
        sleep(poll)
