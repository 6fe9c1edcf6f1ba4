"""Least-privilege IAM policies, one per function, generated from one declaration per stage.

`ACCESS` says what each function's *code* calls, per resource; `EVENT_SOURCE_ACCESS` adds what
Lambda itself does with the function's role (poll its queue or stream, send failures to the
failure queues); every function may write its own log group and X-Ray segments. The resource ARNs
come from the template's deterministic names (`storefront-<stage>-<name>`), the stack outputs and
the account and region of the deploy (STS and the session), so the files are never kept by hand:
`make deploy` writes `.chalice/policy-<stage>.json` (the API handler, Chalice's default role) and
`.chalice/policy-<stage>-<function>.json` (each other function's own role).

The local stack and the in-process tests enforce these documents at call time (devstack/iam.py), so a
missing grant fails there as it would on AWS; a whole test run fails if a grant is never used
(tests/iam_coverage.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.settings import (
    CARRIER_WEBHOOK_SECRET,
    PAYMENT_PROVIDER_API_KEY,
    PROJECT,
    parameter_name,
    resource_name,
)
from chalicelib.settings import DEFAULT_WEBSOCKET_STAGE as WEBSOCKET_STAGE
from deploy.post_deploy import ASYNC_FAILURES_QUEUE, STREAM_FAILURES_QUEUE, Target

API_HANDLER = "api_handler"
# Not a stack output: Chalice creates the WebSocket API, and deploy/flow.py adds its id to the outputs.
WEBSOCKET_API_ID_OUTPUT = "WebsocketApiId"
# The functions Chalice creates for the WebSocket API's routes (chalice/deploy/appgraph.py names them).
WEBSOCKET_FUNCTIONS = {"$connect": "websocket_connect", "$default": "websocket_message",
                       "$disconnect": "websocket_disconnect"}


@dataclass(frozen=True)
class Grant:
    """Actions on resources named symbolically: `table:<name>`, `index:<name>` (every index of the
    table), `topic:<name>`, `queue:<name>`, `queue-name:<full name>` (a queue the app names itself, as
    its event sources do), `stream:outbox`, `bucket:<prefix>`, `user-pool`, `email-identity`,
    `parameter:<name>` (an SSM parameter of the stage), `websocket-connections` (POST to any connection
    of the stage's WebSocket API, whose id Chalice assigns: `outputs["WebsocketApiId"]`),
    `state-machine:<name>`, `executions:<name>` (every execution of that state machine), `secret:<name>`
    (a secret of the stage, any version), `*` (services without resource-level permissions)."""

    actions: tuple[str, ...]
    resources: tuple[str, ...]


def _table(name: str, *actions: str) -> Grant:
    return Grant(tuple(f"dynamodb:{a}" for a in actions), (f"table:{name}",))


def _index(name: str) -> Grant:
    return Grant(("dynamodb:Query",), (f"index:{name}",))


# Posting to a connection: execute-api:ManageConnections on the stage's WebSocket API's connections only.
_MANAGE_CONNECTIONS = Grant(("execute-api:ManageConnections",), ("websocket-connections",))
# Completing a workflow's wait: SendTaskSuccess authorizes against no resource (a task token names none).
_COMPLETE_TASKS = Grant(("states:SendTaskSuccess",), ("*",))
_STOP_FULFILMENT = Grant(("states:StopExecution",), ("executions:fulfilment",))


# A function that commits outbox events: the item's put in the transaction, then the fast path
# (chalicelib/events/direct_publish.py) publishes them and marks each published (UpdateItem).
# A function that records events also publishes them after the commit (chalicelib/events/direct_publish.py):
# their audit items, the SNS publish and the mark.
_RECORDS_EVENTS = (_table("outbox", "PutItem", "UpdateItem"), _table("audit", "BatchWriteItem"),
                   Grant(("sns:Publish",), ("topic:events",)))


# What each function's code calls (recorded by tests/unit/deploy/test_iam.py). The transactions of a
# state change and its outbox event need the per-item actions (PutItem/UpdateItem/ConditionCheckItem).
ACCESS: dict[str, tuple[Grant, ...]] = {
    API_HANDLER: (
        _table("accounts", "GetItem", "PutItem", "UpdateItem"),
        # Query on the table itself: a search's entries newest first and the categories (chalicelib/search).
        _table("catalog", "GetItem", "PutItem", "UpdateItem", "DeleteItem", "BatchGetItem", "Query"),
        _index("catalog"),
        _table("orders", "GetItem", "PutItem", "UpdateItem"),
        _index("orders"),
        _table("payments", "GetItem"),
        _table("notifications", "GetItem"),  # GET /health?deep=1 only (chalicelib/system/readiness.py)
        _index("notifications"),
        _table("audit", "GetItem"),  # GET /health?deep=1 only
        _index("audit"),
        _table("outbox", "GetItem"),  # GET /health?deep=1 only
        *_RECORDS_EVENTS,
        _table("imports", "GetItem", "PutItem"),
        Grant(("cognito-idp:AdminConfirmSignUp", "cognito-idp:AdminUpdateUserAttributes",
               "cognito-idp:AdminListGroupsForUser", "cognito-idp:DescribeUserPool"), ("user-pool",)),
        Grant(("sns:GetTopicAttributes",), ("topic:events",)),  # GET /health?deep=1 only (Publish: above)
        # Fulfilment: ship and the carrier's DELIVERED complete the workflow's wait, a cancel stops it,
        # GET /orders/{id}/fulfilment reads its status; the webhook's signature key.
        _COMPLETE_TASKS, _STOP_FULFILMENT,
        Grant(("states:DescribeExecution",), ("executions:fulfilment",)),
        Grant(("secretsmanager:GetSecretValue",), (f"secret:{CARRIER_WEBHOOK_SECRET}",)),
    ),
    "jwt_authorizer": (),
    "publish_outbox": (
        Grant(("sns:Publish",), ("topic:events",)),
        _table("outbox", "UpdateItem", "BatchGetItem"),  # reads what is published already, marks what it published
        _table("audit", "BatchWriteItem"),  # the audit log of what it publishes (chalicelib/audit/service.py)
    ),
    "relay_outbox": (
        _index("outbox"),
        Grant(("sns:Publish",), ("topic:events",)),
        _table("outbox", "UpdateItem"),
        _table("audit", "BatchWriteItem"),
    ),
    "handle_payment_messages": (
        _table("payments", "GetItem", "PutItem", "UpdateItem"),
        # The provider's API key (SecureString). Decrypting it needs no kms statement: the AWS managed
        # key alias/aws/ssm lets the account's principals use it through SSM (docs/deploy.md).
        Grant(("ssm:GetParameter",), (f"parameter:{PAYMENT_PROVIDER_API_KEY}",)),
        # inbox.apply_once: the marker's conditional put, and a read when it fails (duplicate or rejected?)
        _table("inbox", "GetItem", "PutItem"),
        *_RECORDS_EVENTS,
    ),
    "apply_payment_results": (
        _table("orders", "GetItem", "UpdateItem"),
        _table("catalog", "UpdateItem"),
        _table("inbox", "GetItem", "PutItem"),
        *_RECORDS_EVENTS,
        Grant(("states:StartExecution",), ("state-machine:fulfilment",)),
    ),
    "handle_fulfilment_tasks": (
        _table("orders", "GetItem", "UpdateItem"),
        *_RECORDS_EVENTS,
        _COMPLETE_TASKS, _STOP_FULFILMENT,
    ),
    "pack_orders": (
        _table("orders", "GetItem", "PutItem"),
        Grant(("sqs:GetQueueUrl", "sqs:SendMessage"), ("queue:warehouse",)),
        _COMPLETE_TASKS,
    ),
    "relay_fulfilment": (
        _table("orders", "GetItem"),
        _COMPLETE_TASKS, _STOP_FULFILMENT,
    ),
    "send_notifications": (
        _table("notifications", "GetItem", "PutItem", "UpdateItem"),
        *_RECORDS_EVENTS,
        Grant(("cognito-idp:AdminGetUser",), ("user-pool",)),  # the recipient's verified address
        Grant(("ses:SendEmail",), ("email-identity",)),
        Grant(("cognito-idp:ListUsersInGroup",), ("user-pool",)),  # admins' notifications (ShipmentOverdue)
    ),
    "websocket_connect": (
        _table("connections", "PutItem"),
    ),
    "websocket_message": (
        _MANAGE_CONNECTIONS,
    ),
    "websocket_disconnect": (
        _table("connections", "DeleteItem"),
    ),
    "push_updates": (
        _table("orders", "GetItem"),
        _table("imports", "GetItem"),
        _table("connections", "UpdateItem", "DeleteItem"),
        _index("connections"),
        _MANAGE_CONNECTIONS,
    ),
    "cancel_unpaid_orders": (
        _table("orders", "UpdateItem"),
        _index("orders"),
        _table("catalog", "UpdateItem"),
        *_RECORDS_EVENTS,
    ),
    "import_uploaded_file": (
        Grant(("s3:GetObject",), ("bucket:imports/*",)),
        _table("imports", "GetItem", "PutItem", "UpdateItem"),
        _table("catalog", "BatchGetItem", "BatchWriteItem", "UpdateItem"),  # UpdateItem: category counts
        *_RECORDS_EVENTS,
        Grant(("sqs:GetQueueUrl", "sqs:SendMessage"), ("queue:imports",)),
    ),
    "continue_import": (
        Grant(("s3:GetObject",), ("bucket:imports/*",)),
        _table("imports", "GetItem", "PutItem", "UpdateItem"),
        _table("catalog", "BatchGetItem", "BatchWriteItem", "UpdateItem"),  # UpdateItem: category counts
        *_RECORDS_EVENTS,
        Grant(("sqs:GetQueueUrl", "sqs:SendMessage"), ("queue:imports",)),
    ),
    "attach_uploaded_image": (
        Grant(("s3:GetObject", "s3:DeleteObject"), ("bucket:images/*",)),
        Grant(("s3:PutObject",), ("bucket:products/*", "bucket:thumbnails/*")),
        _table("catalog", "GetItem", "PutItem", "UpdateItem"),
        *_RECORDS_EVENTS,
    ),
}

# Presigned upload URLs are signed with the API handler's credentials: S3 authorizes the client's PUT
# against that role, although the code itself makes no call.
PRESIGNED: dict[str, tuple[Grant, ...]] = {
    API_HANDLER: (Grant(("s3:PutObject",), ("bucket:images/*", "bucket:imports/*")),),
}

def publishers() -> list[str]:
    """The functions granted sns:Publish on the events topic: the only roles its topic policy exempts
    (infra/template.yaml EventsTopicPolicy; tests/integration/test_template.py holds the two together)."""
    return sorted(f for f, grants in ACCESS.items() if any("sns:Publish" in g.actions for g in grants))


SQS_CONSUMER_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                        "sqs:ChangeMessageVisibility")
STREAM_READER_ACTIONS = ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator")
# Actions IAM authorizes only against Resource "*" (no resource-level permissions in the Service
# Authorization Reference): granting them on an ARN grants nothing. Lambda's stream poller needs
# ListStreams, which lists stream ARNs and reads no record.
UNSCOPED_ACTIONS = ("xray:PutTelemetryRecords", "xray:PutTraceSegments", "dynamodb:ListStreams",
                    "states:SendTaskSuccess")


@dataclass(frozen=True)
class StageNames:
    """Resolves the symbolic resources of a `Grant` to ARNs for one deployed stage."""

    stage: str
    target: Target
    outputs: dict[str, str]
    sender_email: str
    sender_identity: str | None = None  # the verified SES identity it sends as (address or domain)

    def _arn(self, service: str, resource: str, region: bool = True, account: bool = True) -> str:
        t = self.target
        return f"arn:{t.partition}:{service}:{t.region if region else ''}:{t.account if account else ''}:{resource}"

    def name(self, short: str) -> str:
        return resource_name(short, self.stage)

    def function_name(self, function: str) -> str:
        return f"{PROJECT}-{self.stage}" if function == API_HANDLER else f"{PROJECT}-{self.stage}-{function}"

    def resolve(self, symbol: str) -> str:
        kind, _, arg = symbol.partition(":")
        if kind == "table":
            return self._arn("dynamodb", f"table/{self.name(arg)}")
        if kind == "index":
            return self._arn("dynamodb", f"table/{self.name(arg)}/index/*")
        if kind == "topic":
            return self._arn("sns", self.name(arg))
        if kind == "queue":
            return self._arn("sqs", self.name(arg))
        if kind == "queue-name":
            return self._arn("sqs", arg)
        if kind == "stream":
            return self.outputs["OutboxStreamArn"]
        if kind == "bucket":  # the stack's name for it (deployed: with account and region), else the local one
            bucket = self.outputs.get("UploadsBucketName") or self.name("uploads")
            return f"arn:{self.target.partition}:s3:::{bucket}/{arg}"
        if kind == "user-pool":
            return self._arn("cognito-idp", f"userpool/{self.outputs['UserPoolId']}")
        if kind == "email-identity":
            return self._arn("ses", f"identity/{self.sender_identity or self.sender_email}")
        if kind == "parameter":  # the name starts with "/", which the ARN does not repeat
            return self._arn("ssm", f"parameter{parameter_name(arg, self.stage)}")
        if kind == "websocket-connections":
            t = self.target
            return (f"arn:{t.partition}:execute-api:{t.region}:{t.account}:{self.outputs[WEBSOCKET_API_ID_OUTPUT]}/"
                    f"{WEBSOCKET_STAGE}/POST/@connections/*")
        if kind == "state-machine":
            return self._arn("states", f"stateMachine:{self.name(arg)}")
        if kind == "executions":
            return self._arn("states", f"execution:{self.name(arg)}:*")
        if kind == "secret":  # Secrets Manager appends "-" and 6 random characters to the name. "-??????" would
            # be exact, but the emulator's policy matcher reads "?" as a regular expression and fails.
            return self._arn("secretsmanager", f"secret:{PROJECT}/{self.stage}/{arg}-*")
        if kind == "log-group":
            return self._arn("logs", f"log-group:/aws/lambda/{self.function_name(arg)}:*")
        if symbol == "*":
            return "*"
        raise ValueError(f"unknown resource symbol {symbol!r}")


def boundary_arn(target: Target, stage: str) -> str:
    """The permissions boundary of every role the stage's deploy creates (infra/deploy-role.yaml)."""
    return f"arn:{target.partition}:iam::{target.account}:policy/{resource_name('boundary', stage)}"


def event_source_grants(app: Any, function: str) -> tuple[Grant, ...]:
    """What Lambda does with the function's role for its event source (Chalice adds none when
    `autogen_policy` is false)."""
    grants: list[Grant] = []
    for source in app.event_sources:
        if source.name != function:
            continue
        kind = type(source).__name__
        if kind == "SQSEventConfig":
            # The queue the mapping polls, by the full name the app gave it (storefront-<stage>-<name>).
            grants.append(Grant(SQS_CONSUMER_ACTIONS, (f"queue-name:{source.queue}",)))
        elif kind == "DynamoDBEventConfig":
            grants.append(Grant(STREAM_READER_ACTIONS, ("stream:outbox",)))
            grants.append(Grant(("dynamodb:ListStreams",), ("*",)))
            grants.append(Grant(("sqs:SendMessage",), (f"queue:{STREAM_FAILURES_QUEUE}",)))
        elif kind in ("SNSEventConfig", "S3EventConfig", "ScheduledEventConfig", "CloudWatchEventConfig"):
            grants.append(Grant(("sqs:SendMessage",), (f"queue:{ASYNC_FAILURES_QUEUE}",)))
    return tuple(grants)


def function_names(app: Any) -> list[str]:
    """Every Lambda function Chalice creates for the app: the API handler, authorizers, event handlers."""
    names = {API_HANDLER} if app.routes else set()
    names |= {a.name for a in app.builtin_auth_handlers}
    names |= {s.name for s in app.event_sources}
    names |= {f.name for f in app.pure_lambda_functions}
    names |= {WEBSOCKET_FUNCTIONS[route] for route in app.websocket_handlers}
    return sorted(names)


def needs_websocket_api(grants: tuple[Grant, ...]) -> bool:
    return any("websocket-connections" in grant.resources for grant in grants)


def policy_document(names: StageNames, function: str, grants: tuple[Grant, ...]) -> dict[str, Any]:
    """The function's policy. Before the stage's WebSocket API exists (its first deploy) its id is not
    known, so the ManageConnections grant is left out; deploy/flow.py then deploys again with it."""
    if WEBSOCKET_API_ID_OUTPUT not in names.outputs:
        grants = tuple(g for g in grants if not needs_websocket_api((g,)))
    statements: list[dict[str, Any]] = [
        {"Sid": "OwnLogs", "Effect": "Allow",
         "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": [names.resolve(f"log-group:{function}")]},
        {"Sid": "Tracing", "Effect": "Allow",  # X-Ray has no resource-level permissions
         "Action": ["xray:PutTelemetryRecords", "xray:PutTraceSegments"], "Resource": ["*"]},
    ]
    merged: dict[tuple[str, ...], set[str]] = {}
    for grant in grants:
        for symbol in grant.resources:
            merged.setdefault(tuple(sorted(grant.actions)), set()).add(names.resolve(symbol))
    for i, (actions, resources) in enumerate(sorted(merged.items())):
        statements.append({"Sid": f"Access{i}", "Effect": "Allow", "Action": list(actions),
                           "Resource": sorted(resources)})
    return {"Version": "2012-10-17", "Statement": statements}


def policies_for(app: Any, names: StageNames) -> dict[str, dict[str, Any]]:
    """`{function: policy document}` for every function of the app; a function without an `ACCESS`
    entry is an error, so a new handler cannot be deployed with a guessed policy."""
    missing = [f for f in function_names(app) if f not in ACCESS]
    if missing:
        raise KeyError(f"no IAM access declared for {missing}: add them to ACCESS in deploy/policies.py")
    return {f: policy_document(names, f, ACCESS[f] + PRESIGNED.get(f, ()) + event_source_grants(app, f))
            for f in function_names(app)}


def policy_file_name(stage: str, function: str) -> str:
    return f"policy-{stage}.json" if function == API_HANDLER else f"policy-{stage}-{function}.json"


def write_policy_files(project_dir: Path, app: Any, names: StageNames) -> tuple[str, dict[str, str]]:
    """Write every function's policy into `.chalice/`; return (the API handler's file, the others')."""
    files: dict[str, str] = {}
    for function, document in policies_for(app, names).items():
        file_name = policy_file_name(names.stage, function)
        (project_dir / ".chalice" / file_name).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        files[function] = file_name
    return files.pop(API_HANDLER), files
