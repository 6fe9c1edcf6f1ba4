"""What Chalice cannot configure, set with boto3 after `chalice deploy`:

- every SQS event source mapping reports partial batch failures (`ReportBatchItemFailures`), so a
  batch retries only the messages its handler reported as failed. Chalice would create the mapping
  enabled, and until `ReportBatchItemFailures` is set Lambda reads a partial-batch response as full
  success and deletes the failed messages: so `chalice deploy` creates SQS mappings disabled
  (`disable_new_queue_mappings`, registered on its botocore session by deploy/chalice_app.py), and
  they are enabled here only once the setting is in place;
- the DynamoDB stream mapping retries a failing batch a bounded number of times, bisecting it to
  isolate the bad record, then sends the record's metadata to the outbox-stream-dlq queue instead of
  blocking the shard until the record expires (24 h);
- every asynchronously invoked function (S3, SNS, schedule) retries twice, then sends the event to
  the async-events-dlq queue;
- every function's log group keeps its events `LOG_RETENTION_DAYS` (Chalice's `log_retention_in_days`,
  bar the API handler's, which Chalice names wrongly: `configure_logs`), and the API stage writes an
  access log line per request to the stack's log group;
- the REST API's stage gets a throttle (a stage-wide rate and burst, tighter ones on the routes that
  create users, sessions and orders) and the stack's WAF web ACL (AWS managed common rules and a
  per-IP rate limit, infra/template.yaml). Chalice creates the API, so neither can be in the stack.
  The association is retried while WAF does not see the new stage or ACL yet (`associate_web_acl`).

The functions and mappings are read from Chalice's deployed state (`.chalice/deployed/<stage>.json`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.settings import resource_name

STREAM_MAX_RETRY_ATTEMPTS = 5
STREAM_MAX_RECORD_AGE_SECONDS = 6 * 3600
ASYNC_MAX_RETRY_ATTEMPTS = 2
ASYNC_MAX_EVENT_AGE_SECONDS = 6 * 3600
STREAM_FAILURES_QUEUE = "outbox-stream-dlq"
ASYNC_FAILURES_QUEUE = "async-events-dlq"
# Chalice's deployed resource types of asynchronously invoked functions.
ASYNC_EVENT_TYPES = ("s3_event", "sns_event", "cloudwatch_event", "scheduled_event")
# API Gateway throttles (steady requests/s, burst), docs/scaling.md "API Gateway throttling": the
# stage's leaves room under the account's default 10,000 rps quota for the other stages and APIs of
# the account; the routes that create accounts, tokens and orders get tighter ones so that abuse of one
# cannot take the stage's whole quota (1,000 orders/s is the design load).
STAGE_THROTTLE = (6000, 3000)
ROUTE_THROTTLES = {
    ("/auth/signup", "POST"): (50, 100),
    ("/auth/login", "POST"): (300, 600),
    ("/orders", "POST"): (1500, 750),
}


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


def websocket_api(deployed: dict[str, Any]) -> dict[str, Any] | None:
    """The app's WebSocket API in the deployed values (`websocket_api_id`, `websocket_api_url`
    `wss://<id>.execute-api.<region>.amazonaws.com/<stage>/`), or None before Chalice created it."""
    apis = resources_of(deployed, "websocket_api")
    return apis[0] if apis and apis[0].get("websocket_api_id") else None


def rest_api(deployed: dict[str, Any]) -> dict[str, Any]:
    """The app's one REST API in the deployed values: `rest_api_id` and `rest_api_url`
    (`https://<id>.execute-api.<region>.amazonaws.com/<stage>/`)."""
    apis = resources_of(deployed, "rest_api")
    if len(apis) != 1 or not apis[0].get("rest_api_url"):
        raise ValueError(f"the deployed state has {len(apis)} REST APIs, expected one with a rest_api_url")
    return apis[0]


def function_name(lambda_arn: str) -> str:
    return lambda_arn.rsplit(":", 1)[1]


# A mapping being created or updated refuses another update (ResourceInUseException) for a few seconds.
SETTLE_ATTEMPTS = 12
SETTLE_FIRST_WAIT_SECONDS = 1.0
SETTLE_MAX_WAIT_SECONDS = 16.0


def disable_new_queue_mappings(params: dict[str, Any], **_: Any) -> None:
    """botocore `before-parameter-build.lambda.CreateEventSourceMapping` handler: an SQS mapping is
    created disabled (`configure_event_sources` enables it once it reports batch item failures)."""
    if ":sqs:" in str(params.get("EventSourceArn", "")):
        params["Enabled"] = False


def update_mapping(lambda_client: Any, sleep: Callable[[float], None] = time.sleep, **request: Any) -> None:
    """UpdateEventSourceMapping, retried with backoff while the mapping is still settling."""
    wait = SETTLE_FIRST_WAIT_SECONDS
    for attempt in range(SETTLE_ATTEMPTS):
        try:
            lambda_client.update_event_source_mapping(**request)
            return
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceInUseException" or attempt == SETTLE_ATTEMPTS - 1:
                raise
        sleep(wait)
        wait = min(wait * 2, SETTLE_MAX_WAIT_SECONDS)


def configure_event_sources(lambda_client: Any, deployed: dict[str, Any], stage: str, target: Target,
                            sleep: Callable[[float], None] = time.sleep) -> list[str]:
    """Apply the settings above; return one line per change, for the deploy's report."""
    done = []
    for mapping in resources_of(deployed, "sqs_event"):
        # First the response type, then (a second update) enabling: never enabled without it.
        update_mapping(lambda_client, sleep, UUID=mapping["event_uuid"],
                       FunctionResponseTypes=["ReportBatchItemFailures"])
        update_mapping(lambda_client, sleep, UUID=mapping["event_uuid"], Enabled=True)
        done.append(f"{mapping['queue']}: ReportBatchItemFailures, then enabled")
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


def bound_roles(iam: Any, deployed: dict[str, Any], boundary_arn: str) -> list[str]:
    """Put the permissions boundary on every role of the deployed state that lacks it (roles created
    before the boundary existed; new ones get it at creation, deploy/chalice_app.py)."""
    done = []
    for role in resources_of(deployed, "iam_role"):
        current = iam.get_role(RoleName=role["role_name"])["Role"].get("PermissionsBoundary", {})
        if current.get("PermissionsBoundaryArn") != boundary_arn:
            iam.put_role_permissions_boundary(RoleName=role["role_name"], PermissionsBoundary=boundary_arn)
            done.append(f"role {role['role_name']}: permissions boundary {boundary_arn.rsplit('/', 1)[1]}")
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


def protect_api(apigateway: Any, wafv2: Any, deployed: dict[str, Any], web_acl_arn: str,
                target: Target, sleep: Callable[[float], None] = time.sleep) -> list[str]:
    """Throttle the API's stage and associate the web ACL with it; return one line per change."""
    api = rest_api(deployed)
    api_id, stage_name = api["rest_api_id"], api_stage_name(api["rest_api_url"])
    operations = _throttle(("*", "*"), STAGE_THROTTLE)
    for (path, method), limits in ROUTE_THROTTLES.items():
        operations += _throttle((path.replace("/", "~1"), method), limits)
    apigateway.update_stage(restApiId=api_id, stageName=stage_name, patchOperations=operations)
    stage_arn = f"arn:{target.partition}:apigateway:{target.region}::/restapis/{api_id}/stages/{stage_name}"
    associate_web_acl(wafv2, web_acl_arn, stage_arn, sleep)
    rate, burst = STAGE_THROTTLE
    return [f"API stage {stage_name}: throttle {rate} rps (burst {burst}), {len(ROUTE_THROTTLES)} route throttles",
            f"API stage {stage_name}: web ACL {web_acl_arn.rsplit('/', 2)[-2]}"]


# A web ACL or API stage created moments ago is "unavailable" to WAF until it has propagated, which
# AWS says takes "from a few seconds to a number of minutes" (AssociateWebACL, docs/deploy.md).
WAF_ATTEMPTS = 10
WAF_FIRST_WAIT_SECONDS = 2.0
WAF_MAX_WAIT_SECONDS = 60.0


def associate_web_acl(wafv2: Any, web_acl_arn: str, resource_arn: str,
                      sleep: Callable[[float], None] = time.sleep) -> int:
    """AssociateWebACL, retried with exponential backoff (2 s doubling to 60 s, about 6 minutes in all)
    while WAF answers WAFUnavailableEntityException; any other error, or the last one, is raised.
    Returns the number of attempts made."""
    wait = WAF_FIRST_WAIT_SECONDS
    for attempt in range(1, WAF_ATTEMPTS + 1):
        try:
            wafv2.associate_web_acl(WebACLArn=web_acl_arn, ResourceArn=resource_arn)
            return attempt
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "WAFUnavailableEntityException" or attempt == WAF_ATTEMPTS:
                raise
        sleep(wait)
        wait = min(wait * 2, WAF_MAX_WAIT_SECONDS)
    raise AssertionError("unreachable")


# One JSON line per request ($context variables of API Gateway's access logging).
ACCESS_LOG_FORMAT = json.dumps({
    "requestId": "$context.requestId", "ip": "$context.identity.sourceIp", "time": "$context.requestTime",
    "method": "$context.httpMethod", "path": "$context.path", "status": "$context.status",
    "length": "$context.responseLength", "latencyMs": "$context.responseLatency",
    "integrationLatencyMs": "$context.integrationLatency", "wafStatus": "$context.waf.status",
    "authorizerError": "$context.authorizer.error", "userAgent": "$context.identity.userAgent",
}, separators=(",", ":"))


# Lambda's advanced logging controls (Chalice 1.34 has no setting for them): JSON lines, and only
# warnings and errors kept, the app's and the platform's (START/END/REPORT) alike. Powertools follows
# AWS_LAMBDA_LOG_LEVEL, which Lambda then sets. The happy path logs nothing at WARN (bench/cost.py).
FUNCTION_LOGGING = {"LogFormat": "JSON", "ApplicationLogLevel": "WARN", "SystemLogLevel": "WARN"}


def configure_function_logging(lambda_client: Any, deployed: dict[str, Any],
                               sleep: Callable[[float], None] = time.sleep) -> list[str]:
    """Every function's LoggingConfig (FUNCTION_LOGGING), once its previous update has finished."""
    done = []
    for resource in resources_of(deployed, "lambda_function"):
        name = function_name(resource["lambda_arn"])
        for attempt in range(30):
            try:
                lambda_client.update_function_configuration(FunctionName=name, LoggingConfig=FUNCTION_LOGGING)
                break
            except lambda_client.exceptions.ResourceConflictException:  # the deploy's own update still running
                if attempt == 29:
                    raise
                sleep(2)
        done.append(f"{name}: logs as JSON, application and platform at WARN")
    return done


def configure_logs(logs: Any, apigateway: Any, deployed: dict[str, Any], access_log_arn: str,
                   retention_days: int) -> list[str]:
    """The API handler's log group with its retention; the API stage's access log; one line per change."""
    functions = {r["name"]: function_name(r["lambda_arn"]) for r in resources_of(deployed, "lambda_function")}
    group = f"/aws/lambda/{functions['api_handler']}"
    try:
        logs.create_log_group(logGroupName=group)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    logs.put_retention_policy(logGroupName=group, retentionInDays=retention_days)
    api = rest_api(deployed)
    stage_name = api_stage_name(api["rest_api_url"])
    apigateway.update_stage(restApiId=api["rest_api_id"], stageName=stage_name, patchOperations=[
        {"op": "replace", "path": "/accessLogSettings/destinationArn", "value": access_log_arn},
        {"op": "replace", "path": "/accessLogSettings/format", "value": ACCESS_LOG_FORMAT},
    ])
    return [f"{group}: retention {retention_days} days",
            f"API stage {stage_name}: access log to {access_log_arn.rsplit(':', 1)[1]}"]


def api_stage_name(rest_api_url: str) -> str:
    """`https://<id>.execute-api.<region>.amazonaws.com/<stage>/` -> `<stage>`."""
    return rest_api_url.rstrip("/").rsplit("/", 1)[1]


def _throttle(resource_method: tuple[str, str], limits: tuple[int, int]) -> list[dict[str, str]]:
    path = "/".join(resource_method)
    rate, burst = limits
    return [{"op": "replace", "path": f"/{path}/throttling/rateLimit", "value": str(rate)},
            {"op": "replace", "path": f"/{path}/throttling/burstLimit", "value": str(burst)}]
