"""Per-function IAM, enforced at call time wherever the app runs locally.

moto does not enforce IAM (its optional check knows resources only for S3, SQS, IAM and STS), so a
grant missing from a function's policy would only show on AWS, as AccessDenied in production. Here
the harness does what IAM does: every AWS call made while one of the app's functions runs is
checked, with the action and resource ARN AWS would evaluate, against the policy document
`make deploy` generates for that function (deploy/policies.py, resolved for the local stage); a call
the policy does not allow fails as on AWS, with the service's own error (a botocore `ClientError`:
`AccessDeniedException`, `AccessDenied`, `AuthorizationError`, ...) and one log line,
`[devstack] access denied <function> <action> <resource>`.

Who is running is a context variable, set where the harness calls the app the way Lambda would: the
event delivery (devstack/delivery.py) for each handler, `chalice local` and `chalice.test.Client`
for routes (`api_handler`) and the built-in authorizer (its own function), and
`chalice.test.Client.lambda_.invoke`. Calls made outside any function (the harness provisioning,
seeding, a test's own setup) are not the app's and are not checked.

Requests are also signed with an access key naming the function (`LOCAL-<function>`), so a
presigned URL carries its signer: the emulator's S3 (devstack/s3_auth.py) checks a presigned request
against the signer's policy, as S3 does with the role that signed it.

The policies come from a JSON file (`POLICY_FILE`) that the dev stack writes after provisioning and
every process of the stack (the delivery, `chalice local`, moto server) reads, re-reading it when it
changes: a test revokes a grant by rewriting that file (`revoke`). In-process tests hold the documents
in memory instead (`enforce(documents)`).

Why not moto's own enforcement: it checks every non-S3/SQS service against `Resource: "*"` and knows no
function identity. The policy evaluation itself is moto's (`moto.iam.access_control.IAMPolicy`).
"""

from __future__ import annotations

import contextvars
import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

POLICY_FILE = "STOREFRONT_DEV_IAM_POLICY_FILE"  # the stack's generated policies, {"account", "region", "policies"}
RECORD_DIR = "STOREFRONT_IAM_RECORD_DIR"  # where each process appends the calls it allowed (tests/iam_coverage.py)
ACCESS_KEY_PREFIX = "LOCAL-"
LOCAL_ACCOUNT = "123456789012"  # moto's default account

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("storefront_function", default=None)

# Cognito operations authorized by the app client, not IAM (their SigV4 signature is ignored by AWS).
COGNITO_PUBLIC = {"SignUp", "ConfirmSignUp", "InitiateAuth", "RespondToAuthChallenge", "ResendConfirmationCode",
                  "ForgotPassword", "ConfirmForgotPassword", "GetUser", "GlobalSignOut", "RevokeToken",
                  "UpdateUserAttributes", "ChangePassword", "DeleteUser", "VerifyUserAttribute",
                  "GetUserAttributeVerificationCode"}
# Operations that need no permission at all.
UNAUTHORIZED_OPERATIONS = {("sts", "GetCallerIdentity")}
TRANSACT_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                    "ConditionCheck": "ConditionCheckItem"}
S3_ACTIONS = {"HeadObject": "GetObject", "ListObjectsV2": "ListBucket", "HeadBucket": "ListBucket",
              "CreateMultipartUpload": "PutObject", "UploadPart": "PutObject",
              "CompleteMultipartUpload": "PutObject", "AbortMultipartUpload": "AbortMultipartUpload"}
# (error code, HTTP status) AWS answers an unauthorized call with, per service.
DENIAL_ERRORS = {"sns": ("AuthorizationError", 403), "sqs": ("AccessDenied", 403), "s3": ("AccessDenied", 403),
                 "ses": ("AccessDenied", 403), "cloudwatch": ("AccessDenied", 403), "sts": ("AccessDenied", 403),
                 "execute-api": ("ForbiddenException", 403), "apigatewaymanagementapi": ("ForbiddenException", 403)}
DEFAULT_DENIAL_ERROR = ("AccessDeniedException", 400)


@contextmanager
def running_as(function: str) -> Iterator[None]:
    """AWS calls in this block are `function`'s, checked against its policy."""
    token = _current.set(function)
    try:
        yield
    finally:
        _current.reset(token)


def access_key_of(function: str) -> str:
    return f"{ACCESS_KEY_PREFIX}{function}"


def function_of_access_key(access_key: str) -> str | None:
    return access_key[len(ACCESS_KEY_PREFIX):] if access_key.startswith(ACCESS_KEY_PREFIX) else None


# --- what AWS evaluates ----------------------------------------------------------------------------

def iam_requests(service: str, operation: str, params: dict[str, Any], account: str, region: str,
                 endpoint_url: str = "") -> set[tuple[str, str]]:
    """The (IAM action, resource ARN) pairs AWS authorizes one API call against (the Service
    Authorization Reference's resource types); an operation this does not know is an error, so a
    new kind of call is mapped deliberately rather than let through."""
    if (service, operation) in UNAUTHORIZED_OPERATIONS:
        return set()

    def arn(svc: str, resource: str) -> str:
        return f"arn:aws:{svc}:{region}:{account}:{resource}"

    if service == "dynamodb":
        def table(name: str) -> str:
            return arn("dynamodb", f"table/{name}")
        if operation == "TransactWriteItems":
            return {(f"dynamodb:{TRANSACT_ACTIONS[kind]}", table(item[kind]["TableName"]))
                    for item in params["TransactItems"] for kind in item}
        if operation == "TransactGetItems":
            return {("dynamodb:GetItem", table(item["Get"]["TableName"])) for item in params["TransactItems"]}
        if operation in ("BatchGetItem", "BatchWriteItem"):
            return {(f"dynamodb:{operation}", table(name)) for name in params["RequestItems"]}
        resource = table(params["TableName"])
        if params.get("IndexName"):
            resource += f"/index/{params['IndexName']}"
        return {(f"dynamodb:{operation}", resource)}
    if service == "cognito-idp":
        if operation in COGNITO_PUBLIC:
            return set()
        return {(f"cognito-idp:{operation}", arn("cognito-idp", f"userpool/{params['UserPoolId']}"))}
    if service == "sns":
        action = "Publish" if operation == "PublishBatch" else operation
        return {(f"sns:{action}", params["TopicArn"])}
    if service == "ses":
        return {(f"ses:{operation}", arn("ses", f"identity/{params['Source']}"))}
    if service == "sqs":
        queue = params["QueueName"] if operation == "GetQueueUrl" else params["QueueUrl"].rsplit("/", 1)[1]
        return {(f"sqs:{operation}", arn("sqs", queue))}
    if service == "s3":
        action = S3_ACTIONS.get(operation, operation)
        resource = f"arn:aws:s3:::{params['Bucket']}"
        if action != "ListBucket":
            resource += f"/{params.get('Key', '')}"
        return {(f"s3:{action}", resource)}
    if service == "ssm":  # a name starting with "/" is not repeated after "parameter" in the ARN
        names = params["Names"] if operation == "GetParameters" else [params["Name"]]
        return {(f"ssm:{operation}", arn("ssm", f"parameter{'' if n.startswith('/') else '/'}{n}")) for n in names}
    if service == "secretsmanager":
        secret = params["SecretId"]
        return {(f"secretsmanager:{operation}", secret if secret.startswith("arn:") else arn("secretsmanager",
                                                                                            f"secret:{secret}"))}
    if service == "stepfunctions":
        if "stateMachineArn" in params:
            return {(f"states:{operation}", params["stateMachineArn"])}
        if "executionArn" in params:
            return {(f"states:{operation}", params["executionArn"])}
        return {(f"states:{operation}", "*")}  # task tokens: no resource-level permissions
    if service == "apigatewaymanagementapi":
        api_id, stage = _api_and_stage(endpoint_url)
        method = {"PostToConnection": "POST", "GetConnection": "GET", "DeleteConnection": "DELETE"}[operation]
        return {("execute-api:ManageConnections",
                 arn("execute-api", f"{api_id}/{stage}/{method}/@connections/{params['ConnectionId']}"))}
    if service == "cloudwatch":
        return {(f"cloudwatch:{operation}", "*")}
    raise NotMapped(f"no IAM mapping for {service}:{operation}; extend devstack/iam.py iam_requests")


def _api_and_stage(endpoint_url: str) -> tuple[str, str]:
    """`https://<api-id>.execute-api.<region>.amazonaws.com/<stage>` (or a local gateway's `/<api-id>/<stage>`)."""
    parsed = urlparse(endpoint_url)
    parts = [unquote(p) for p in parsed.path.split("/") if p]
    host = parsed.hostname or ""
    if ".execute-api." in host:
        return host.split(".", 1)[0], parts[0] if parts else ""
    return (parts[0], parts[1]) if len(parts) >= 2 else ("local", parts[0] if parts else "")


class NotMapped(LookupError):
    """An AWS call devstack/iam.py cannot translate to what IAM evaluates."""


# --- the policies ------------------------------------------------------------------------------------

class Policies:
    """The functions' policy documents, from memory or from the stack's policy file (re-read on change)."""

    def __init__(self, documents: dict[str, Any] | None = None, account: str = LOCAL_ACCOUNT,
                 region: str = "us-east-1", path: Path | None = None) -> None:
        self._path = path
        self._mtime: float | None = None
        self._lock = threading.Lock()
        self.account, self.region = account, region
        self._compiled: dict[str, Any] = {}
        self.documents: dict[str, Any] = {}
        if documents is not None:
            self.set(documents)

    def set(self, documents: dict[str, Any]) -> None:
        from moto.iam.access_control import IAMPolicy

        self.documents = documents
        self._compiled = {function: IAMPolicy(json.dumps(document)) for function, document in documents.items()}

    def _refresh(self) -> None:
        if self._path is None:
            return
        with self._lock:
            mtime = self._path.stat().st_mtime_ns
            if mtime != self._mtime:
                content = json.loads(self._path.read_text(encoding="utf-8"))
                self.account, self.region = content["account"], content["region"]
                self.set(content["policies"])
                self._mtime = mtime

    def allows(self, function: str, action: str, resource: str) -> bool:
        from moto.iam.access_control import PermissionResult

        self._refresh()
        policy = self._compiled.get(function)
        return policy is not None and policy.is_action_permitted(action, resource) == PermissionResult.PERMITTED


def without_action(documents: dict[str, Any], function: str, action: str,
                   resource: str | None = None) -> dict[str, Any]:
    """The documents with `action` (on `resource`, or on every resource) removed from `function`'s policy."""
    statements: list[dict[str, Any]] = []
    for statement in documents[function]["Statement"]:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if action not in statement["Action"] or (resource is not None and resource not in resources):
            statements.append(statement)
            continue
        others = [a for a in statement["Action"] if a != action]
        kept = [r for r in resources if resource is not None and r != resource]
        statements += [{**statement, "Action": others}] if others else []
        statements += [{**statement, "Sid": f"{statement.get('Sid', '')}Kept", "Action": [action],
                        "Resource": kept}] if kept else []
    return {**documents, function: {**documents[function], "Statement": statements}}


def write_policy_file(path: Path, documents: dict[str, Any], account: str, region: str) -> None:
    """Write the stack's policies atomically (readers never see half a file)."""
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    partial.write_text(json.dumps({"account": account, "region": region, "policies": documents}, indent=1),
                       encoding="utf-8")
    os.replace(partial, path)


def revoke(path: Path, function: str, action: str, resource: str | None = None) -> None:
    """Remove `action` from `function`'s policy in the stack's policy file, as an operator editing the
    role would; the stack's processes apply it on their next call."""
    content = json.loads(path.read_text(encoding="utf-8"))
    write_policy_file(path, without_action(content["policies"], function, action, resource), content["account"],
                      content["region"])


@contextmanager
def revoked(function: str, action: str, resource: str | None = None) -> Iterator[None]:
    """In-process: `function` may not do `action` while the block runs."""
    assert _enforcer is not None, "IAM is not enforced in this process"
    policies = _enforcer.policies
    saved = policies.documents
    policies.set(without_action(saved, function, action, resource))
    try:
        yield
    finally:
        policies.set(saved)


def local_policy_documents(app: Any) -> dict[str, Any]:
    """What `make deploy` would attach to each function, resolved for the local stage from the
    environment the stack's processes share (stack outputs as environment variables)."""
    from chalicelib import settings
    from deploy import policies
    from deploy.post_deploy import Target

    config = settings.get_settings()
    names = policies.StageNames(stage=config.stage, target=Target(account=LOCAL_ACCOUNT, region=config.region),
                                outputs={"OutboxStreamArn": config.outbox_stream_arn,
                                         "UserPoolId": config.user_pool_id,
                                         policies.WEBSOCKET_API_ID_OUTPUT: settings.websocket_api()[0]},
                                sender_email=config.sender_email)
    return policies.policies_for(app, names)


# --- enforcement ---------------------------------------------------------------------------------------

class Enforcer:
    def __init__(self, policies: Policies, log: Callable[[str], None]) -> None:
        self.policies = policies
        self.log = log
        self._recorder = Recorder.from_environment()

    def check(self, function: str, requests: set[tuple[str, str]]) -> tuple[str, str] | None:
        """The first (action, resource) `function` may not do, or None (and the calls are recorded)."""
        for action, resource in sorted(requests):
            if not self.policies.allows(function, action, resource):
                self.log(f"[devstack] access denied {function} {action} {resource}")
                return action, resource
        self._recorder.add(function, requests)
        return None

    def denial_message(self, function: str, action: str, resource: str) -> str:
        role = f"arn:aws:sts::{self.policies.account}:assumed-role/storefront-local-{function}/{function}"
        return (f"User: {role} is not authorized to perform: {action} on resource: {resource} "
                "because no identity-based policy allows the action")


class Recorder:
    """Appends each (function, action, resource) a process allowed, once, to `<RECORD_DIR>/<pid>.jsonl`,
    so that the test session can check that every grant was used somewhere (tests/iam_coverage.py)."""

    def __init__(self, directory: Path | None) -> None:
        self._directory = directory
        self._seen: set[tuple[str, str, str]] = set()
        self._lock = threading.Lock()

    @classmethod
    def from_environment(cls) -> Recorder:
        directory = os.environ.get(RECORD_DIR)
        return cls(Path(directory) if directory else None)

    def add(self, function: str, requests: set[tuple[str, str]]) -> None:
        if self._directory is None:
            return
        new = {(function, action, resource) for action, resource in requests} - self._seen
        if not new:
            return
        with self._lock:
            self._seen |= new
            with (self._directory / f"{os.getpid()}.jsonl").open("a", encoding="utf-8") as f:
                for entry in sorted(new):
                    f.write(json.dumps(entry) + "\n")


_enforcer: Enforcer | None = None


def enforcer() -> Enforcer | None:
    return _enforcer


def enforce(policies: Policies, log: Callable[[str], None] = print) -> Enforcer:
    """Check every AWS call of the app's functions in this process from now on (idempotent)."""
    global _enforcer
    _enforcer = Enforcer(policies, log)
    _install_hooks()
    return _enforcer


def enforce_from_file(log: Callable[[str], None] = print) -> Enforcer:
    """`enforce` with the stack's policy file named by `POLICY_FILE` (the stack's child processes)."""
    return enforce(Policies(path=Path(os.environ[POLICY_FILE])), log)


_installed = False


def _install_hooks() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    _check_calls()
    _sign_as_function()
    _attribute_chalice_entry_points()


def _check_calls() -> None:
    from botocore.client import BaseClient
    from botocore.exceptions import ClientError

    original = BaseClient._make_api_call

    def _make_api_call(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        function = _current.get()
        active = _enforcer
        if function is None or active is None:
            return original(self, operation_name, api_params)
        service = self.meta.service_model.service_name
        requests = iam_requests(service, operation_name, api_params, active.policies.account,
                                active.policies.region, self.meta.endpoint_url)
        denied = active.check(function, requests)
        if denied is None:
            return original(self, operation_name, api_params)
        code, status = DENIAL_ERRORS.get(service, DEFAULT_DENIAL_ERROR)
        response = {"Error": {"Code": code, "Message": active.denial_message(function, *denied)},
                    "ResponseMetadata": {"HTTPStatusCode": status}}
        error_class = self.exceptions.from_code(code)
        raise (error_class if issubclass(error_class, ClientError) else ClientError)(response, operation_name)

    BaseClient._make_api_call = _make_api_call


def _sign_as_function() -> None:
    """Requests made by a function carry its access key (the secret is the environment's)."""
    from botocore.credentials import ReadOnlyCredentials
    from botocore.signers import RequestSigner

    original = RequestSigner.get_auth_instance

    def get_auth_instance(self: Any, *args: Any, **kwargs: Any) -> Any:
        auth = original(self, *args, **kwargs)
        function = _current.get()
        credentials = getattr(auth, "credentials", None)
        if function is not None and credentials is not None:
            auth.credentials = ReadOnlyCredentials(access_key_of(function), credentials.secret_key,
                                                   credentials.token)
        return auth

    RequestSigner.get_auth_instance = get_auth_instance


def _attribute_chalice_entry_points() -> None:
    """Routes run as the API handler, a built-in authorizer as its own function, and a handler invoked
    through `chalice.test.Client.lambda_` as itself; under `chalice local` and `chalice.test` alike."""
    from chalice import test as chalice_test
    from chalice.app import ChaliceAuthorizer
    from chalice.local import LocalGateway

    from deploy.policies import API_HANDLER

    handle_request = LocalGateway.handle_request

    def handle_as_api(self: Any, *args: Any, **kwargs: Any) -> Any:
        with running_as(API_HANDLER):
            return handle_request(self, *args, **kwargs)

    LocalGateway.handle_request = handle_as_api

    authorize = ChaliceAuthorizer.__call__

    def authorize_as_itself(self: Any, event: Any, context: Any) -> Any:
        with running_as(self.name):
            return authorize(self, event, context)

    ChaliceAuthorizer.__call__ = authorize_as_itself

    invoke = chalice_test.TestLambdaClient.invoke

    def invoke_as_itself(self: Any, function_name: str, payload: Any = None) -> Any:
        with running_as(function_name):
            return invoke(self, function_name, payload)

    chalice_test.TestLambdaClient.invoke = invoke_as_itself
