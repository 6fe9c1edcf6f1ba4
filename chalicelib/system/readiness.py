"""Readiness: can this API reach what it needs? One cheap call per backend, all at once.

- each table the API reads or writes: a GetItem of a key no item has (a table that is gone or a
  role without access answers an error; DescribeTable would need a broader grant, on every table);
- the events topic: sns:GetTopicAttributes;
- the user pool: cognito-idp:DescribeUserPool.
The calls run in parallel threads, each with the request's context (the correlation id), so the
answer takes as long as the slowest call: at most one client timeout (chalicelib/aws.py), not the sum.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from chalicelib import aws
from chalicelib.settings import get_settings, resource_name

TABLES = ("accounts", "catalog", "orders", "payments", "notifications", "audit", "outbox", "imports")
_NO_SUCH_KEY = {"pk": {"S": "READINESS#check"}, "sk": {"S": "READINESS#check"}}
OK = "ok"


def _table(name: str) -> Callable[[], None]:
    return lambda: aws.client("dynamodb").get_item(TableName=resource_name(name), Key=_NO_SUCH_KEY)


def _topic() -> None:
    aws.client("sns").get_topic_attributes(TopicArn=get_settings().events_topic_arn)


def _user_pool() -> None:
    aws.client("cognito-idp").describe_user_pool(UserPoolId=get_settings().user_pool_id)


def _checks() -> dict[str, Callable[[], None]]:
    return {**{f"table:{name}": _table(name) for name in TABLES}, "topic:events": _topic, "user-pool": _user_pool}


NAMES = tuple(_checks())


def check() -> dict[str, str]:
    """`{check name: "ok" or what failed}` for every backend the API needs."""
    checks = _checks()
    with ThreadPoolExecutor(max_workers=len(checks)) as pool:
        futures = {name: pool.submit(contextvars.copy_context().run, _outcome, probe)
                   for name, probe in checks.items()}
        return {name: future.result() for name, future in futures.items()}


def _outcome(probe: Callable[[], None]) -> str:
    try:
        probe()
    except Exception as exc:  # any failure is the answer, not a crash: a readiness check reports it
        return f"{type(exc).__name__}: {exc}"[:300]
    return OK
