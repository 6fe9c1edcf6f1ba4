"""The proof of `make deploy` / `make destroy`: the whole flow of deploy/flow.py runs in-process
against moto (`mock_aws`), then the test checks what exists against what the app declares.

Six emulator gaps are bridged here, and only here:
- moto 5.2's ImportRestApi cannot import Chalice's swagger (`KeyError: 'description'`, then Swagger
  2.0 refused, authorizers ignored): `import_swagger_into_moto` applies the same document through
  API Gateway's resource/method/authorizer calls.
- moto evaluates bucket policies without their conditions, so the buckets' DenyInsecureTransport
  statement would refuse `make deploy`'s upload of web/ to the site bucket: the harness fix
  `devstack.moto_fixes.honour_secure_transport_condition` (the emulator stands in for S3 over TLS).
- moto's PutBucketNotificationConfiguration accepts only lower-case filter rule names
  (`with_moto_s3_filter_names`); Chalice sends `Prefix`/`Suffix`, which S3 accepts.
- moto's CloudFormation skips Cognito, SNS subscriptions, policies and SES identities (docs/infrastructure.md), so
  the resources step uses devstack's provisioning of the same template (moto's CloudFormation plus
  appliers for what it skips) instead of `resources.deploy_stack`; the CloudFormation step itself is
  exercised by `test_the_resources_stack_is_created_updated_and_deleted` on the resources moto models.
- moto's PutRestApi (the update of the REST API on a later `chalice deploy`) refuses Swagger 2.0 too:
  `update_api_from_swagger_in_moto` overwrites the API the same way.
- moto 5.2's apigatewayv2 has no CreateDeployment ("Not yet implemented"), which Chalice calls to
  deploy the WebSocket API before creating its stage: `deploy_websocket_api_in_moto` stands in for
  that one call (the API, its integrations, routes and stage are moto's own).
Everything else (Chalice's packaging, its deploy and delete, the post-deploy step) is the real code.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sys
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.awsrequest
import botocore.client
import botocore.exceptions
import pytest
import yaml
from chalice import awsclient
from chalice.config import Config
from moto import mock_aws
from moto.awslambda.models import lambda_backends

from chalicelib import settings
from deploy import flow, layers, packaging, policies, post_deploy, prerequisites, resources, site, stage_config
from devstack.moto_fixes import honour_secure_transport_condition
from devstack.provision import create_local_stack
from infra.parameters import payment_provider_key_name
from infra.site import WEB_ROOT, cache_control, config_script, content_type, site_files
from infra.stack import load_template, stack_name

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("deploy")]

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
PROJECT_FILES = ("app.py", "chalicelib", "requirements.txt", ".chalice/config.json")


def import_swagger_into_moto(self: Any, swagger_document: dict, endpoint_type: str) -> str:
    """ImportRestApi for the emulator. moto 5.2's ImportRestApi raises `KeyError: 'description'` on
    Chalice's swagger (no `info.description`; measured with moto 5.2.5); with one added it then refuses Swagger 2.0
    ("Only OpenAPI 3.x.x are currently supported") and never reads `securityDefinitions`. So the
    document Chalice generated is applied here with the API Gateway calls an import amounts to:
    the API, each authorizer of `securityDefinitions`, each path and method with its `security`
    (CUSTOM plus the authorizer, or NONE) and its Lambda proxy integration, or for the CORS preflight
    `OPTIONS` methods their mock integration and its response headers."""
    apigw = self._client("apigateway")
    info = swagger_document["info"]
    api_id = apigw.create_rest_api(name=info["title"], description=info.get("description", ""),
                                   endpointConfiguration={"types": [endpoint_type]})["id"]
    _apply_swagger(apigw, api_id, swagger_document)
    return api_id


def update_api_from_swagger_in_moto(self: Any, rest_api_id: str, swagger_document: dict) -> None:
    """PutRestApi in overwrite mode, which moto 5.2 refuses for Swagger 2.0 like ImportRestApi (a stage's
    first deploy runs `chalice deploy` twice, deploy/flow.py): every resource but the root and every
    authorizer is removed, then the document is applied as `import_swagger_into_moto` does."""
    apigw = self._client("apigateway")
    resources = apigw.get_resources(restApiId=rest_api_id, limit=500)["items"]
    for resource in sorted(resources, key=lambda r: -r["path"].count("/")):
        if resource["path"] != "/":
            with contextlib.suppress(apigw.exceptions.NotFoundException):
                apigw.delete_resource(restApiId=rest_api_id, resourceId=resource["id"])
    for authorizer in apigw.get_authorizers(restApiId=rest_api_id)["items"]:
        apigw.delete_authorizer(restApiId=rest_api_id, authorizerId=authorizer["id"])
    _apply_swagger(apigw, rest_api_id, swagger_document)


def _apply_swagger(apigw: Any, api_id: str, swagger_document: dict) -> None:
    authorizers = {}
    for name, definition in swagger_document.get("securityDefinitions", {}).items():
        spec = definition["x-amazon-apigateway-authorizer"]
        authorizers[name] = apigw.create_authorizer(
            restApiId=api_id, name=name, type=spec["type"].upper(), authorizerUri=spec["authorizerUri"],
            identitySource=f"method.request.header.{definition['name']}",
            authorizerResultTtlInSeconds=spec.get("authorizerResultTtlInSeconds", 300))["id"]
    resource_ids = {"/": next(r["id"] for r in apigw.get_resources(restApiId=api_id)["items"] if r["path"] == "/")}
    for path in sorted(swagger_document["paths"]):
        parent = "/"
        for part in [p for p in path.split("/") if p]:
            current = f"{parent.rstrip('/')}/{part}"
            if current not in resource_ids:
                resource_ids[current] = apigw.create_resource(restApiId=api_id, parentId=resource_ids[parent],
                                                              pathPart=part)["id"]
            parent = current
        for method, spec in swagger_document["paths"][path].items():
            security = [name for requirement in spec.get("security", []) for name in requirement]
            auth = {"authorizationType": "CUSTOM", "authorizerId": authorizers[security[0]]} if security else \
                {"authorizationType": "NONE"}
            apigw.put_method(restApiId=api_id, resourceId=resource_ids[path], httpMethod=method.upper(), **auth)
            integration = spec["x-amazon-apigateway-integration"]
            if integration["type"] == "mock":
                _put_mock_integration(apigw, api_id, resource_ids[path], method.upper(), spec)
                continue
            apigw.put_integration(restApiId=api_id, resourceId=resource_ids[path], httpMethod=method.upper(),
                                  type=integration["type"].upper(), integrationHttpMethod=integration["httpMethod"],
                                  uri=integration["uri"])


def deploy_websocket_api_in_moto(self: Any, api_id: str) -> str:
    """CreateDeployment of a WebSocket API, which moto 5.2 does not implement: a deployment id for the
    stage Chalice creates next (moto's CreateStage accepts any)."""
    assert self._client("apigatewayv2").get_api(ApiId=api_id)["ProtocolType"] == "WEBSOCKET"
    return uuid.uuid4().hex[:6]


def _put_mock_integration(apigw: Any, api_id: str, resource_id: str, method: str, spec: dict) -> None:
    """Chalice's CORS preflight: a mock integration whose default response sets the CORS headers."""
    integration = spec["x-amazon-apigateway-integration"]
    where = {"restApiId": api_id, "resourceId": resource_id, "httpMethod": method}
    apigw.put_integration(**where, type="MOCK", requestTemplates=integration.get("requestTemplates", {}))
    for status, response in spec["responses"].items():
        apigw.put_method_response(**where, statusCode=status, responseParameters={
            f"method.response.header.{header}": False for header in response.get("headers", {})})
    for response in integration["responses"].values():
        apigw.put_integration_response(**where, statusCode=response["statusCode"],
                                       responseParameters=response.get("responseParameters", {}))


def _lowercase_filter_rule_names(params: dict, **_: Any) -> None:
    """moto 5.2's PutBucketNotificationConfiguration asserts rule names are `prefix`/`suffix`; S3
    accepts any case and Chalice sends `Prefix`/`Suffix`."""
    for configuration in params.get("NotificationConfiguration", {}).get("LambdaFunctionConfigurations", []):
        for rule in configuration.get("Filter", {}).get("Key", {}).get("FilterRules", []):
            rule["Name"] = rule["Name"].lower()


def with_moto_s3_filter_names(original: Any) -> Any:
    def client(self: Any, service_name: str) -> Any:
        made = original(self, service_name)
        if service_name == "s3" and not getattr(made, "_storefront_filter_names", False):
            made.meta.events.register("before-parameter-build.s3.PutBucketNotificationConfiguration",
                                      _lowercase_filter_rule_names)
            made._storefront_filter_names = True
        return made

    return client


def copy_project(target: Path) -> Path:
    """The app as a deploy sees it, in a scratch directory (config.json and policy files get written);
    Chalice's package cache is shared with the repository's, so dependencies download once."""
    for name in PROJECT_FILES:
        source, dest = ROOT / name, target / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, dest, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copyfile(source, dest)
    (ROOT / ".chalice" / "deployments").mkdir(parents=True, exist_ok=True)
    (target / ".chalice" / "deployments").symlink_to(ROOT / ".chalice" / "deployments")
    return target


@contextlib.contextmanager
def fresh_app_import(project_dir: Path) -> Iterator[None]:
    """Let `chalice deploy` import the copied app with the stage's environment, as its own process
    would; afterwards this process gets back its modules, sys.path and environment."""
    saved_modules = {name: module for name, module in sys.modules.items()
                     if name == "app" or name == "chalicelib" or name.startswith("chalicelib.")}
    saved_environ, saved_path = dict(os.environ), list(sys.path)
    for name in saved_modules:
        del sys.modules[name]
    sys.path.insert(0, str(project_dir))
    try:
        yield
    finally:
        for name in [n for n in sys.modules if n == "app" or n == "chalicelib" or n.startswith("chalicelib.")]:
            del sys.modules[name]
        sys.modules.update(saved_modules)
        sys.path[:] = saved_path
        os.environ.clear()
        os.environ.update(saved_environ)


def recording_api_calls(calls: list[tuple[str, str, dict]]) -> Any:
    """`BaseClient._make_api_call` that also appends (service, operation, parameters) to `calls`: the
    order in which the deploy made its calls, whichever client (Chalice's or the deploy's) made them.
    The parameters are kept as the very dict botocore's `before-parameter-build` handlers change in place,
    so they are what was sent."""
    original = botocore.client.BaseClient._make_api_call

    def make_api_call(self: Any, operation_name: str, api_params: dict) -> Any:
        calls.append((self.meta.service_model.service_name, operation_name, api_params))
        return original(self, operation_name, api_params)

    return make_api_call


API_GATEWAY_LOGS_ROLE = "arn:aws:iam::123456789012:role/apigateway-cloudwatch-logs"


SENDER = "orders@shop.example"  # sent as the verified domain identity shop.example


DEPLOY_ROLE_TEMPLATE = ROOT / "infra" / "deploy-role.yaml"


def set_up_account(session: boto3.Session, stage: str | None = None) -> None:
    """What docs/deploy.md has an operator do once per account before the first deploy: API Gateway's
    logging role, the sender's SES identity (here the domain, verified at once by moto) and, per stage,
    infra/deploy-role.yaml (the deploy role and the functions' permissions boundary)."""
    session.client("apigateway").update_account(patchOperations=[
        {"op": "replace", "path": "/cloudwatchRoleArn", "value": API_GATEWAY_LOGS_ROLE}])
    session.client("ses").verify_domain_identity(Domain=SENDER.rsplit("@", 1)[1])
    if stage is not None:
        cfn = session.client("cloudformation")
        parameters = {"Stage": stage, "GitHubRepository": "example/storefront", "StateBucket": "state-bucket",
                      "OidcProviderArn": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"}
        cfn.create_stack(StackName=f"storefront-deploy-{stage}", Capabilities=["CAPABILITY_NAMED_IAM"],
                         TemplateBody=json.dumps(yaml.safe_load(DEPLOY_ROLE_TEMPLATE.read_text())),
                         Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()])
        resources.wait_for_stack(cfn, f"storefront-deploy-{stage}", poll=0.01)


def account_session(concurrent_executions: int = 1000) -> boto3.Session:
    """A session whose Lambda client answers GetAccountSettings, which moto 5.2 does not implement, as
    AWS does for an account with this concurrency quota (1,000: Lambda's default per region)."""
    session = boto3.Session(region_name=REGION)

    def account_settings(**_: Any) -> Any:
        return (botocore.awsrequest.AWSResponse("https://lambda", 200, {}, None), {
            "AccountLimit": {"ConcurrentExecutions": concurrent_executions,
                             "UnreservedConcurrentExecutions": concurrent_executions},
            "AccountUsage": {"FunctionCount": 0}})

    session.events.register("before-call.lambda.GetAccountSettings", account_settings)
    return session


def emulator_stack(cfn: Any, stage: str, parameters: dict[str, str]) -> dict[str, str]:
    return create_local_stack(stage, None, REGION, {k: v for k, v in parameters.items() if k != "Stage"})


class Deployed:
    """The result of one deploy, plus the app as deployed and clients to look at the account."""

    def __init__(self, project_dir: Path, result: flow.DeployResult, app: Any,
                 calls: list[tuple[str, str, dict]]) -> None:
        self.project_dir, self.result, self.app, self.stage = project_dir, result, app, result.stage
        self.calls = list(calls)  # every AWS call of the first deploy, in order
        config_json = json.loads((project_dir / ".chalice" / "config.json").read_text())
        self.config = Config(chalice_stage=self.stage, config_from_disk=config_json)
        self.account = boto3.client("sts", region_name=REGION).get_caller_identity()["Account"]

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION)

    def function_name(self, function: str) -> str:
        return f"storefront-{self.stage}" if function == policies.API_HANDLER else f"storefront-{self.stage}-{function}"

    def function_arn(self, function: str) -> str:
        return f"arn:aws:lambda:{REGION}:{self.account}:function:{self.function_name(function)}"

    def queue_arn(self, name: str) -> str:
        return f"arn:aws:sqs:{REGION}:{self.account}:storefront-{self.stage}-{name}"

    def sources(self, kind: str) -> list[Any]:
        return [s for s in self.app.event_sources if type(s).__name__ == kind]

    def mappings(self, function: str) -> list[dict]:
        # moto filters on FunctionName only when given the ARN
        return self.client("lambda").list_event_source_mappings(
            FunctionName=self.function_arn(function))["EventSourceMappings"]

    def handler(self, function: str) -> str:
        """The handler string Chalice's app declares for the function."""
        if function == policies.API_HANDLER:
            return "app.app"
        websocket = {policies.WEBSOCKET_FUNCTIONS[route]: config.handler_string
                     for route, config in self.app.websocket_handlers.items()}
        if function in websocket:
            return websocket[function]
        declared = [*self.app.event_sources, *self.app.builtin_auth_handlers, *self.app.pure_lambda_functions]
        return next(d.handler_string for d in declared if d.name == function)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    project_dir = copy_project(tmp_path_factory.mktemp("project"))
    stage = "dt" + uuid.uuid4().hex[:6]
    honour_secure_transport_condition()
    with mock_aws(), pytest.MonkeyPatch.context() as mp, fresh_app_import(project_dir):
        mp.setattr(awsclient.TypedAWSClient, "import_rest_api", import_swagger_into_moto)
        mp.setattr(awsclient.TypedAWSClient, "update_api_from_swagger", update_api_from_swagger_in_moto)
        mp.setattr(awsclient.TypedAWSClient, "deploy_websocket_api", deploy_websocket_api_in_moto)
        mp.setattr(awsclient.TypedAWSClient, "_client", with_moto_s3_filter_names(awsclient.TypedAWSClient._client))
        mp.setattr(resources, "POLL_SECONDS", 0.01)
        set_up_account(boto3.Session(region_name=REGION), stage)
        calls: list[tuple[str, str, dict]] = []
        with pytest.MonkeyPatch.context() as recording:
            recording.setattr(botocore.client.BaseClient, "_make_api_call", recording_api_calls(calls))
            result = flow.deploy(stage, project_dir=project_dir, session=account_session(),
                                 sender_email=SENDER, stack_deployer=emulator_stack, log=lambda line: None)
        app = sys.modules["app"].app
        deployed = Deployed(project_dir, result, app, calls)
        yield deployed
        # moto's CloudFormation is sent the template without its Outputs (devstack/provision/), so
        # the outputs destroy reads the bucket names from are the ones the provisioning resolved.
        flow.destroy(stage, project_dir=project_dir, session=boto3.Session(region_name=REGION),
                     stack_deleter=delete_stack_of_emptied_buckets(result.outputs), log=lambda line: None,
                     stack_outputs=lambda cfn, stage: result.outputs)
        _assert_destroyed(deployed)


def delete_stack_of_emptied_buckets(outputs: dict[str, str]) -> Any:
    """The stack deletion of `make destroy`, after checking the buckets were emptied before it (on AWS
    CloudFormation cannot delete a bucket that holds objects)."""

    def delete(cfn: Any, stage: str) -> None:
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in (outputs["UploadsBucketName"], outputs["SiteBucketName"]):
            assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0, bucket
        resources.delete_stack(cfn, stage, poll=0.01)

    return delete


def _assert_destroyed(d: Deployed) -> None:
    lam = d.client("lambda")
    left = [f["FunctionName"] for f in lam.list_functions()["Functions"]
            if f["FunctionName"].startswith(f"storefront-{d.stage}")]
    assert left == [], left
    assert [a for a in d.client("apigateway").get_rest_apis()["items"] if a["name"] == "storefront"] == []
    assert [a for a in d.client("apigatewayv2").get_apis()["Items"] if d.stage in a["Name"]] == []
    assert [m for m in lam.list_event_source_mappings()["EventSourceMappings"] if d.stage in m["FunctionArn"]] == []
    stacks = d.client("cloudformation").list_stacks()["StackSummaries"]
    assert all(s["StackStatus"] == "DELETE_COMPLETE" for s in stacks if s["StackName"] == stack_name(d.stage))
    for layer in packaging.LAYERS:
        assert lam.list_layer_versions(LayerName=layers.layer_name(d.stage, layer))["LayerVersions"] == []
    assert not (d.project_dir / ".chalice" / "deployed" / f"{d.stage}.json").exists() or \
        json.loads((d.project_dir / ".chalice" / "deployed" / f"{d.stage}.json").read_text())["resources"] == []
    # The API key stays (docs/deploy.md, deleting a stage): it may be the operator's real key.
    assert d.client("ssm").get_parameter(Name=payment_provider_key_name(d.stage))["Parameter"]["Type"] == "SecureString"


def test_every_function_has_its_handler_memory_timeout_environment_and_own_role(deployment: Deployed):
    lam, iam = deployment.client("lambda"), deployment.client("iam")
    functions = policies.function_names(deployment.app)
    assert {"api_handler", "jwt_authorizer", *(s.name for s in deployment.app.event_sources),
            "websocket_connect", "websocket_message", "websocket_disconnect"} == set(functions)
    expected_env = deployment.config.environment_variables
    assert expected_env["STOREFRONT_STAGE"] == deployment.stage
    assert expected_env["STOREFRONT_OUTBOX_STREAM_ARN"] == deployment.result.outputs["OutboxStreamArn"]
    roles = set()
    for function in functions:
        config = lam.get_function(FunctionName=deployment.function_name(function))["Configuration"]
        scoped = deployment.config.scope(deployment.stage, function)
        assert config["Handler"] == deployment.handler(function)
        assert config["Runtime"] == "python3.11"
        assert config["MemorySize"] == scoped.lambda_memory_size
        assert config["Timeout"] == scoped.lambda_timeout
        assert config["Environment"]["Variables"] == scoped.environment_variables
        assert config["TracingConfig"] == {"Mode": "Active"}
        role_name = config["Role"].rsplit("/", 1)[1]
        roles.add(role_name)
        (policy_name,) = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
        granted = iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)["PolicyDocument"]
        written = json.loads((deployment.project_dir / ".chalice" /
                              policies.policy_file_name(deployment.stage, function)).read_text())
        assert granted == written
    assert len(roles) == len(functions)  # one role per function


def test_every_functions_log_group_expires_its_events_and_the_api_stage_writes_an_access_log(
        deployment: Deployed):
    logs = deployment.client("logs")
    groups = {g["logGroupName"]: g for g in logs.describe_log_groups(
        logGroupNamePrefix=f"/aws/lambda/storefront-{deployment.stage}")["logGroups"]}
    # Each function's own log group (named after the function as Lambda names it), and no other.
    assert set(groups) == {f"/aws/lambda/{deployment.function_name(f)}"
                           for f in policies.function_names(deployment.app)}
    assert {g.get("retentionInDays") for g in groups.values()} == {stage_config.LOG_RETENTION_DAYS}
    (api,) = post_deploy.resources_of(deployment.result.deployed, "rest_api")
    stage = deployment.client("apigateway").get_stage(restApiId=api["rest_api_id"], stageName="api")
    access_log = deployment.result.outputs["ApiAccessLogGroupArn"]
    assert stage["accessLogSettings"]["destinationArn"] == access_log
    assert access_log.endswith(f":log-group:/aws/apigateway/storefront-{deployment.stage}-access")
    fields = json.loads(stage["accessLogSettings"]["format"])
    assert {"requestId", "ip", "status", "path", "latencyMs", "wafStatus"} <= set(fields)
    (group,) = logs.describe_log_groups(logGroupNamePrefix=access_log.rsplit(":", 1)[1])["logGroups"]
    assert group["retentionInDays"] == stage_config.LOG_RETENTION_DAYS


def test_every_role_the_deploy_creates_carries_the_stages_permissions_boundary(deployment: Deployed):
    iam = deployment.client("iam")
    boundary = f"arn:aws:iam::{deployment.account}:policy/storefront-{deployment.stage}-boundary"
    assert iam.get_policy(PolicyArn=boundary)["Policy"]["PolicyName"] == f"storefront-{deployment.stage}-boundary"
    roles = post_deploy.resources_of(deployment.result.deployed, "iam_role")
    assert len(roles) == len(policies.function_names(deployment.app))
    created = [params for service, operation, params in deployment.calls
               if (service, operation) == ("iam", "CreateRole")]
    assert {p["RoleName"] for p in created} == {r["role_name"] for r in roles}
    assert all(p["PermissionsBoundary"] == boundary for p in created)  # from the start, as the deploy role requires
    for role in roles:
        assert role["role_name"].startswith(f"storefront-{deployment.stage}-")  # what the deploy role may pass
        attached = iam.get_role(RoleName=role["role_name"])["Role"]["PermissionsBoundary"]
        assert attached == {"PermissionsBoundaryType": "PermissionsBoundaryPolicy", "PermissionsBoundaryArn": boundary}


def test_a_role_without_the_boundary_gets_it_on_the_next_deploy(deployment: Deployed):
    iam = deployment.client("iam")
    (role, *_) = post_deploy.resources_of(deployment.result.deployed, "iam_role")
    boundary = policies.boundary_arn(post_deploy.Target(deployment.account, REGION), deployment.stage)
    iam.delete_role_permissions_boundary(RoleName=role["role_name"])
    assert post_deploy.bound_roles(iam, deployment.result.deployed, boundary) == [
        f"role {role['role_name']}: permissions boundary storefront-{deployment.stage}-boundary"]
    assert post_deploy.bound_roles(iam, deployment.result.deployed, boundary) == []


def test_the_api_stage_is_throttled_traced_and_behind_the_web_acl(deployment: Deployed):
    (api,) = post_deploy.resources_of(deployment.result.deployed, "rest_api")
    stage = deployment.client("apigateway").get_stage(restApiId=api["rest_api_id"], stageName="api")
    # Chalice sends `xray` as CreateDeployment's tracingEnabled, which moto 5.2 drops: the stage's
    # tracing is checked only through the stage config Chalice reads.
    assert json.loads((deployment.project_dir / ".chalice" / "config.json").read_text()
                      )["stages"][deployment.stage]["xray"] is True
    settings = stage["methodSettings"]
    rate, burst = post_deploy.STAGE_THROTTLE
    assert (settings["*/*"]["throttlingRateLimit"], settings["*/*"]["throttlingBurstLimit"]) == (rate, burst)
    for (path, method), (rate, burst) in post_deploy.ROUTE_THROTTLES.items():
        route = settings[f"{path.replace('/', '~1')}/{method}"]
        assert (route["throttlingRateLimit"], route["throttlingBurstLimit"]) == (rate, burst)
        assert method in deployment.app.routes[path]
    stage_arn = f"arn:aws:apigateway:{REGION}::/restapis/{api['rest_api_id']}/stages/api"
    acl = deployment.client("wafv2").get_web_acl_for_resource(ResourceArn=stage_arn)["WebACL"]
    assert acl["ARN"] == deployment.result.outputs["WebAclArn"]
    assert acl["Name"] == f"storefront-{deployment.stage}-api"


def _unavailable_twice() -> Any:
    """A botocore `before-call` handler that answers AssociateWebACL with WAF's
    WAFUnavailableEntityException twice (what AWS does right after the stage or ACL was created),
    then lets the call through to moto."""
    refused: list[str] = []

    def before_call(**_: Any) -> Any:
        if len(refused) < 2:
            refused.append("WAFUnavailableEntityException")
            return (botocore.awsrequest.AWSResponse("https://wafv2", 400, {}, None), {"Error": {
                "Code": "WAFUnavailableEntityException", "Message": "the resource is not available yet"}})
        return None

    before_call.refused = refused  # type: ignore[attr-defined]
    return before_call


def test_the_web_acl_association_is_retried_with_backoff_while_waf_calls_the_stage_unavailable(
        deployment: Deployed):
    (api,) = post_deploy.resources_of(deployment.result.deployed, "rest_api")
    stage_arn = f"arn:aws:apigateway:{REGION}::/restapis/{api['rest_api_id']}/stages/api"
    wafv2, waits, unavailable = deployment.client("wafv2"), [], _unavailable_twice()
    wafv2.disassociate_web_acl(ResourceArn=stage_arn)
    wafv2.meta.events.register("before-call.wafv2.AssociateWebACL", unavailable)
    assert post_deploy.associate_web_acl(wafv2, deployment.result.outputs["WebAclArn"], stage_arn, waits.append) == 3
    assert unavailable.refused == ["WAFUnavailableEntityException"] * 2
    assert waits == [post_deploy.WAF_FIRST_WAIT_SECONDS, 2 * post_deploy.WAF_FIRST_WAIT_SECONDS]
    assert wafv2.get_web_acl_for_resource(ResourceArn=stage_arn)["WebACL"]["ARN"] == \
        deployment.result.outputs["WebAclArn"]
    # Any other refusal is not waited out.
    wafv2.meta.events.register("before-call.wafv2.AssociateWebACL", lambda **_: (
        botocore.awsrequest.AWSResponse("https://wafv2", 400, {}, None),
        {"Error": {"Code": "WAFInvalidParameterException", "Message": "bad ARN"}}), unique_id="invalid")
    with pytest.raises(botocore.exceptions.ClientError, match="WAFInvalidParameterException"):
        post_deploy.associate_web_acl(wafv2, deployment.result.outputs["WebAclArn"], stage_arn, waits.append)
    assert len(waits) == 2


def test_each_layer_is_attached_to_its_functions_only_and_no_function_zip_carries_a_layers_packages(
        deployment: Deployed):
    """Per-function `layers` (`stages.<stage>.lambda_functions.<function>.layers`, read by Chalice 1.34
    per stage and function): Pillow where images are handled, PyJWT and cryptography where tokens are
    verified, nowhere else; no function zip carries a layer's packages or the runtime's AWS SDK."""
    lam = deployment.client("lambda")
    by_name = {layer.short_name: layer for layer in packaging.LAYERS}
    assert by_name["pillow"].functions == ("attach_uploaded_image",)
    assert set(by_name["jose"].functions) == {"jwt_authorizer", "websocket_connect", "api_handler"}
    for layer in packaging.LAYERS:
        published = deployment.result.layer_versions[layer.short_name]
        (latest,) = lam.list_layer_versions(LayerName=layers.layer_name(deployment.stage, layer))["LayerVersions"]
        assert latest["LayerVersionArn"] == published.version_arn
        assert latest["Description"] == f"sha256:{published.sha256}"
    backend = lambda_backends[deployment.account][REGION]
    for function in policies.function_names(deployment.app):
        config = lam.get_function(FunctionName=deployment.function_name(function))["Configuration"]
        attached = [entry["Arn"] for entry in config.get("Layers", [])]
        assert attached == [deployment.result.layer_versions[layer.short_name].version_arn
                            for layer in packaging.LAYERS if function in layer.functions], function
        assert config["CodeSize"] < 5 * 2**20, function
        with zipfile.ZipFile(io.BytesIO(backend.get_function(deployment.function_name(function)).code_bytes)) as z:
            top = {name.split("/", 1)[0] for name in z.namelist()}
        assert not top & {"PIL", "pillow.libs", "jwt", "cryptography", "cffi", "botocore", "boto3"}, \
            (function, sorted(top))
        assert "chalicelib" in top
    with zipfile.ZipFile(_layer_zip(deployment, "pillow")) as z:
        assert "python/PIL/Image.py" in z.namelist()
        assert any(name.startswith("python/pillow.libs/") for name in z.namelist())
    with zipfile.ZipFile(_layer_zip(deployment, "jose")) as z:
        names = z.namelist()
        assert "python/jwt/api_jwt.py" in names and any(n.startswith("python/cryptography/") for n in names)


def _layer_zip(deployment: Deployed, short_name: str) -> Path:
    (layer,) = [layer for layer in packaging.LAYERS if layer.short_name == short_name]
    return packaging.layer_filename(deployment.project_dir, layer, "python3.11")


def test_an_unchanged_layer_is_not_published_again(deployment: Deployed):
    lam = deployment.client("lambda")
    layer = packaging.LAYERS[0]
    again = layers.publish(lam, deployment.stage, layer, _layer_zip(deployment, layer.short_name), "python3.11",
                           "x86_64")
    assert again.published is False
    assert again.version_arn == deployment.result.layer_versions[layer.short_name].version_arn
    assert len(lam.list_layer_versions(LayerName=layers.layer_name(deployment.stage, layer))["LayerVersions"]) == 1


def test_the_stage_config_has_the_stack_outputs_and_no_generated_policy(deployment: Deployed):
    section = json.loads((deployment.project_dir / ".chalice" / "config.json").read_text())["stages"][deployment.stage]
    assert section["autogen_policy"] is False
    assert section["iam_policy_file"] == f"policy-{deployment.stage}.json"
    assert "layers" not in section
    assert {name for name, function in section["lambda_functions"].items() if "layers" in function} == \
        {function for layer in packaging.LAYERS for function in layer.functions}
    for key, value in deployment.result.environment.items():
        assert section["environment_variables"][key] == value
    deployed = flow.deployed_state(deployment.project_dir, deployment.stage)
    assert {r["resource_type"] for r in deployed["resources"]} >= {"lambda_function", "rest_api", "iam_role"}


def test_the_rest_api_has_every_route_and_the_authorizer_on_the_protected_ones(deployment: Deployed):
    apigw = deployment.client("apigateway")
    (api,) = [a for a in apigw.get_rest_apis()["items"] if a["name"] == "storefront"]
    authorizers = {a["id"]: a for a in apigw.get_authorizers(restApiId=api["id"])["items"]}
    assert [a["name"] for a in authorizers.values()] == ["jwt_authorizer"]
    (authorizer,) = authorizers.values()
    assert deployment.function_name("jwt_authorizer") in authorizer["authorizerUri"]
    live = {r["path"]: r.get("resourceMethods", {}) for r in
            apigw.get_resources(restApiId=api["id"], embed=["methods"], limit=500)["items"]}
    checked = 0
    for path, methods in deployment.app.routes.items():
        for method, entry in methods.items():
            assert method in live.get(path, {}), f"{method} {path} missing from the REST API"
            live_method = apigw.get_method(restApiId=api["id"], resourceId=_resource_id(apigw, api["id"], path),
                                           httpMethod=method)
            if entry.authorizer is not None:
                assert live_method["authorizationType"] == "CUSTOM", (method, path)
                assert live_method["authorizerId"] == authorizer["id"]
            else:
                assert live_method["authorizationType"] == "NONE", (method, path)
            assert deployment.function_name("api_handler") in live_method["methodIntegration"]["uri"]
            checked += 1
    assert checked == sum(len(m) for m in deployment.app.routes.values()) > 20
    stages = apigw.get_stages(restApiId=api["id"])["item"]
    assert [s["stageName"] for s in stages] == [deployment.config.api_gateway_stage]


def _resource_id(apigw: Any, api_id: str, path: str) -> str:
    return next(r["id"] for r in apigw.get_resources(restApiId=api_id, limit=500)["items"] if r["path"] == path)


def test_each_queue_mapping_has_its_batch_size_and_reports_batch_item_failures(deployment: Deployed):
    sources = deployment.sources("SQSEventConfig")
    assert len(sources) >= 3
    for source in sources:
        (mapping,) = deployment.mappings(source.name)
        short_name = source.queue.removeprefix(f"storefront-{deployment.stage}-")
        assert mapping["EventSourceArn"] == deployment.queue_arn(short_name)
        assert mapping["BatchSize"] == source.batch_size
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping["State"] == "Enabled"


def test_queue_mappings_are_created_disabled_and_enabled_only_once_they_report_batch_item_failures(
        deployment: Deployed):
    """Until ReportBatchItemFailures is set, Lambda takes a partial-batch response for full success and
    deletes the failed messages: no SQS mapping may be enabled before it has the setting."""
    queue_arns = {deployment.queue_arn(s.queue.removeprefix(f"storefront-{deployment.stage}-"))
                  for s in deployment.sources("SQSEventConfig")}
    uuids = {m["UUID"]: m["EventSourceArn"] for s in deployment.sources("SQSEventConfig")
             for m in deployment.mappings(s.name)}
    creates = [params for service, operation, params in deployment.calls
               if (service, operation) == ("lambda", "CreateEventSourceMapping")
               and params["EventSourceArn"] in queue_arns]
    assert len(creates) == len(queue_arns) and all(params["Enabled"] is False for params in creates)
    for uuid_, arn in uuids.items():
        updates = [params for service, operation, params in deployment.calls
                   if (service, operation) == ("lambda", "UpdateEventSourceMapping") and params["UUID"] == uuid_]
        # A stage's first deploy runs `chalice deploy` twice (docs/realtime.md): Chalice's own update of the
        # mapping (batch size, window) never enables it; ours sets the response type, then enables.
        ours = [params for params in updates if {"FunctionResponseTypes", "Enabled"} & set(params)]
        assert [sorted(set(params) - {"UUID"}) for params in ours] == [["FunctionResponseTypes"], ["Enabled"]], arn
        assert ours[0]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert ours[1]["Enabled"] is True and updates[-1] is ours[1]
    # The stream mapping is not a queue's: created as Chalice creates it.
    (stream,) = deployment.mappings(deployment.sources("DynamoDBEventConfig")[0].name)
    assert stream["State"] == "Enabled"


def test_a_mapping_still_settling_is_updated_again_with_backoff():
    attempts, waits = [], []

    class Settling:
        def update_event_source_mapping(self, **request):
            attempts.append(request)
            if len(attempts) < 3:
                raise botocore.exceptions.ClientError(
                    {"Error": {"Code": "ResourceInUseException", "Message": "in use"}}, "UpdateEventSourceMapping")

    post_deploy.update_mapping(Settling(), waits.append, UUID="u", Enabled=True)
    assert attempts == [{"UUID": "u", "Enabled": True}] * 3
    assert waits == [post_deploy.SETTLE_FIRST_WAIT_SECONDS, 2 * post_deploy.SETTLE_FIRST_WAIT_SECONDS]


def test_the_outbox_stream_mapping_retries_a_bounded_number_of_times_bisects_and_has_a_destination(
        deployment: Deployed):
    (source,) = deployment.sources("DynamoDBEventConfig")
    (mapping,) = deployment.mappings(source.name)
    assert mapping["EventSourceArn"] == deployment.result.outputs["OutboxStreamArn"]
    assert mapping["BatchSize"] == source.batch_size
    assert mapping["StartingPosition"] == source.starting_position
    assert mapping["MaximumRetryAttempts"] == post_deploy.STREAM_MAX_RETRY_ATTEMPTS
    assert mapping["BisectBatchOnFunctionError"] is True
    destination = mapping["DestinationConfig"]["OnFailure"]["Destination"]
    assert destination == deployment.queue_arn(post_deploy.STREAM_FAILURES_QUEUE)
    deployment.client("sqs").get_queue_url(QueueName=f"storefront-{deployment.stage}-{post_deploy.STREAM_FAILURES_QUEUE}")


def test_only_the_deployed_outbox_publishers_role_may_publish_to_the_events_topic(deployment: Deployed):
    """The topic policy names the publishers' roles by the name Chalice gives it: checked against the
    role the deployed function really has, so a change of Chalice's naming cannot silently lock the
    publisher out (or leave the topic open)."""
    topic_arn = deployment.result.outputs["EventsTopicArn"]
    policy = json.loads(deployment.client("sns").get_topic_attributes(TopicArn=topic_arn)["Attributes"]["Policy"])
    (statement,) = policy["Statement"]
    assert (statement["Effect"], statement["Principal"], statement["Action"], statement["Resource"]) == \
        ("Deny", "*", "sns:Publish", topic_arn)
    (exempt,) = statement["Condition"]["ArnNotEquals"].values()
    lam = deployment.client("lambda")
    roles = {f: lam.get_function(FunctionName=deployment.function_name(f))["Configuration"]["Role"]
             for f in policies.function_names(deployment.app)}
    publishers = {f for f, grants in policies.ACCESS.items() for g in grants if "sns:Publish" in g.actions}
    assert publishers == {"publish_outbox", "relay_outbox"}  # the stream's publisher, and the outbox relay
    assert sorted(exempt) == sorted(roles[f] for f in publishers)


def test_the_sns_handlers_are_subscribed_to_their_topic(deployment: Deployed):
    sources = deployment.sources("SNSEventConfig")
    assert sources
    sns = deployment.client("sns")
    for source in sources:
        topic_arn = f"arn:aws:sns:{REGION}:{deployment.account}:{source.topic}"
        subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
        assert {"Protocol": "lambda", "Endpoint": deployment.function_arn(source.name)}.items() <= \
            next(s for s in subscriptions if s["Protocol"] == "lambda").items()


def test_deployed_bucket_names_carry_account_and_region_and_the_app_reads_them_from_the_stack(
        deployment: Deployed):
    """Bucket names are global across AWS accounts: storefront-<stage>-uploads would collide with any
    other account's stage of the same name."""
    outputs, suffix = deployment.result.outputs, f"-{deployment.account}-{REGION}"
    assert outputs["UploadsBucketName"] == f"storefront-{deployment.stage}-uploads{suffix}"
    assert outputs["SiteBucketName"] == f"storefront-{deployment.stage}-site{suffix}"
    assert len(f"storefront-{'s' * 16}-uploads-{deployment.account}-ap-southeast-2") <= 63  # S3's limit
    assert deployment.config.environment_variables[settings.UPLOADS_BUCKET_NAME] == outputs["UploadsBucketName"]
    assert {s.bucket for s in deployment.sources("S3EventConfig")} == {outputs["UploadsBucketName"]}
    bucket_arn = f"arn:aws:s3:::{outputs['UploadsBucketName']}"
    for function in ("attach_uploaded_image", "import_uploaded_file", policies.API_HANDLER):
        written = json.loads((deployment.project_dir / ".chalice" /
                              policies.policy_file_name(deployment.stage, function)).read_text())
        s3_resources = {r for st in written["Statement"] if any(a.startswith("s3:") for a in st["Action"])
                        for r in st["Resource"]}
        assert s3_resources and all(r.startswith(bucket_arn + "/") for r in s3_resources), function


def test_the_bucket_notifications_invoke_the_s3_handlers_for_their_prefixes(deployment: Deployed):
    sources = deployment.sources("S3EventConfig")
    if not sources:
        pytest.skip("the app declares no @app.on_s3_event handler yet")
    s3 = deployment.client("s3")
    for source in sources:
        configuration = s3.get_bucket_notification_configuration(Bucket=source.bucket)
        matching = [c for c in configuration.get("LambdaFunctionConfigurations", [])
                    if c["LambdaFunctionArn"] == deployment.function_arn(source.name)]
        assert matching, f"{source.name}: no notification on {source.bucket}"
        rules = {r["Name"].lower(): r["Value"] for r in
                 matching[0].get("Filter", {}).get("Key", {}).get("FilterRules", [])}
        assert rules.get("prefix") == source.prefix and rules.get("suffix") == source.suffix or \
            (not source.prefix and not source.suffix)
        assert sorted(matching[0]["Events"]) == sorted(source.events)


def test_the_schedule_rule_targets_its_function(deployment: Deployed):
    sources = deployment.sources("ScheduledEventConfig")
    assert sources
    events = deployment.client("events")
    for source in sources:
        (rule_name,) = events.list_rule_names_by_target(TargetArn=deployment.function_arn(source.name))["RuleNames"]
        rule = events.describe_rule(Name=rule_name)
        expected = source.schedule_expression
        assert rule["ScheduleExpression"] == (expected if isinstance(expected, str) else expected.to_string())
        assert rule["State"] == "ENABLED"


def test_every_asynchronously_invoked_function_has_bounded_retries_and_a_failure_queue(deployment: Deployed):
    kinds = ("SNSEventConfig", "S3EventConfig", "ScheduledEventConfig", "CloudWatchEventConfig")
    asynchronous = {s.name for kind in kinds for s in deployment.sources(kind)}
    assert len(asynchronous) >= 2
    lam = deployment.client("lambda")
    for function in asynchronous:
        config = lam.get_function_event_invoke_config(FunctionName=deployment.function_name(function))
        assert config["MaximumRetryAttempts"] == post_deploy.ASYNC_MAX_RETRY_ATTEMPTS
        destination = config["DestinationConfig"]["OnFailure"]["Destination"]
        assert destination == deployment.queue_arn(post_deploy.ASYNC_FAILURES_QUEUE)
    synchronous = set(policies.function_names(deployment.app)) - asynchronous
    for function in synchronous:
        with pytest.raises(lam.exceptions.ResourceNotFoundException):
            lam.get_function_event_invoke_config(FunctionName=deployment.function_name(function))


def test_the_api_key_is_a_securestring_only_the_payments_handler_reads_and_a_redeploy_keeps(
        deployment: Deployed, monkeypatch: pytest.MonkeyPatch):
    ssm, name = deployment.client("ssm"), payment_provider_key_name(deployment.stage)
    created = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]
    assert created["Type"] == "SecureString" and created["Value"].startswith("sk_test_")
    arn = f"arn:aws:ssm:{REGION}:{deployment.account}:parameter{name}"
    chalice_dir = deployment.project_dir / ".chalice"
    for function in policies.function_names(deployment.app):
        written = json.loads((chalice_dir / policies.policy_file_name(deployment.stage, function)).read_text())
        granted = [(s["Action"], s["Resource"]) for s in written["Statement"]
                   if any(a.startswith(("ssm:", "kms:")) for a in s["Action"])]
        assert granted == ([(["ssm:GetParameter"], [arn])] if function == "handle_payment_messages" else []), function
    real_key = "sk_live_" + uuid.uuid4().hex
    ssm.put_parameter(Name=name, Value=real_key, Type="SecureString", Overwrite=True)  # docs/deploy.md

    lines: list[str] = []
    # Chalice updates an existing API with PutRestApi, which moto 5.2 refuses for Swagger 2.0 like
    # ImportRestApi (see import_swagger_into_moto); the routes have not changed, so it is skipped.
    monkeypatch.setattr(awsclient.TypedAWSClient, "update_api_from_swagger",
                        lambda self, rest_api_id, swagger_document: None)
    flow.deploy(deployment.stage, project_dir=deployment.project_dir, session=account_session(),
                sender_email=SENDER, stack_deployer=lambda cfn, stage, parameters: deployment.result.outputs,
                log=lines.append)

    assert ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == real_key
    assert f"SecureString {name} exists: left as it is" in lines
    files = [p.read_text() for p in [*chalice_dir.glob("*.json"), *chalice_dir.glob("deployed/*.json")]]
    assert files and not any(key in text for key in (real_key, created["Value"]) for text in lines + files)


# --- the CloudFormation step, on what moto's CloudFormation models -----------------------------------

def test_the_resources_stack_is_created_updated_and_deleted_from_a_template_over_the_body_limit():
    """CloudFormation refuses a TemplateBody over 51,200 bytes (moto does not): the template goes to
    the deploy bucket and CloudFormation reads it from its TemplateURL."""
    padding = "x" * (resources.TEMPLATE_BODY_MAX_BYTES + 1000)
    template = {"AWSTemplateFormatVersion": "2010-09-09", "Parameters": {"Stage": {"Type": "String"}},
                "Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Metadata": {"Padding": padding}, "Properties": {
                    "QueueName": {"Fn::Sub": "storefront-${Stage}-probe"}}}},
                "Outputs": {"QueueArn": {"Value": {"Fn::GetAtt": ["Queue", "Arn"]}}}}
    assert len(json.dumps(template)) > resources.TEMPLATE_BODY_MAX_BYTES
    stage = "cf" + uuid.uuid4().hex[:6]
    with mock_aws():
        cfn, s3 = boto3.client("cloudformation", region_name=REGION), boto3.client("s3", region_name=REGION)
        sent: list[dict] = []
        for operation in ("CreateStack", "UpdateStack"):
            cfn.meta.events.register(f"before-parameter-build.cloudformation.{operation}",
                                     lambda params, **_: sent.append(dict(params)))
        account = boto3.client("sts", region_name=REGION).get_caller_identity()["Account"]
        bucket = resources.ensure_deploy_bucket(s3, resources.deploy_bucket_name(account, REGION), REGION)
        assert bucket == f"storefront-deploy-{account}-{REGION}"
        assert resources.ensure_deploy_bucket(s3, bucket, REGION) == bucket  # exists: left as it is
        assert all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())
        deploy = {"poll": 0.01, "s3": s3, "bucket": bucket}
        outputs = resources.deploy_stack(cfn, stage, {"Stage": stage}, template, **deploy)
        assert sent[0]["Capabilities"] == ["CAPABILITY_AUTO_EXPAND"]
        assert outputs["QueueArn"].endswith(f":storefront-{stage}-probe")
        assert sent and all("TemplateBody" not in request for request in sent)
        (url,) = {request["TemplateURL"] for request in sent}
        assert url.startswith(f"https://{bucket}.s3.{REGION}.amazonaws.com/templates/{stage}/")
        assert cfn.get_template(StackName=stack_name(stage))["TemplateBody"]["Resources"]["Queue"]["Metadata"] == \
            {"Padding": padding}
        assert resources.deploy_stack(cfn, stage, {"Stage": stage}, template, **deploy) == outputs  # no change
        template["Resources"]["Queue"]["Properties"]["VisibilityTimeout"] = 60
        resources.deploy_stack(cfn, stage, {"Stage": stage}, template, **deploy)
        url = boto3.client("sqs", region_name=REGION).get_queue_url(QueueName=f"storefront-{stage}-probe")["QueueUrl"]
        attributes = boto3.client("sqs", region_name=REGION).get_queue_attributes(
            QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"]
        assert attributes["VisibilityTimeout"] == "60"
        resources.delete_stack(cfn, stage, poll=0.01)
        assert resources._existing_status(cfn, stack_name(stage)) in (None, "DELETE_COMPLETE")
        # A protected stage's stack is created with termination protection (moto 5.2 keeps the flag but
        # has no UpdateTerminationProtection, so turning it off, as destroy does, is not run here).
        protected = "cp" + uuid.uuid4().hex[:6]
        resources.deploy_stack(cfn, protected, {"Stage": protected}, template, **deploy, termination_protection=True)
        assert sent[-1]["EnableTerminationProtection"] is True
        assert cfn.describe_stacks(StackName=stack_name(protected))["Stacks"][0]["EnableTerminationProtection"] is True


# --- account prerequisites ------------------------------------------------------------------------

def test_a_deploy_to_an_account_without_its_prerequisites_stops_before_creating_anything(tmp_path: Path):
    with mock_aws():
        session = account_session(concurrent_executions=10)  # what AWS gives many new accounts
        # moto keeps API Gateway's account settings across mocks: start from an empty account's.
        session.client("apigateway").update_account(patchOperations=[
            {"op": "replace", "path": "/cloudwatchRoleArn", "value": ""}])
        before = (session.client("cloudformation").list_stacks()["StackSummaries"],
                  session.client("s3").list_buckets()["Buckets"])
        try:
            with pytest.raises(prerequisites.PrerequisiteError) as refused:
                flow.deploy("dev", project_dir=tmp_path, session=session, log=lambda line: None)
        finally:
            set_up_account(session)  # (moto's state is shared with the module's deployment)
        message = str(refused.value)
        assert "API Gateway logging" in message and "update-account" in message
        assert "SES sender" in message and "SENDER_EMAIL" in message
        assert "permissions boundary" in message and "infra/deploy-role.yaml" in message
        assert f"may run 10 Lambda functions at once in {REGION}; the stage's throttles assume 960" in message
        assert "--quota-code L-B99A9384" in message
        assert "CloudFront" not in message  # usable with these credentials
        assert (session.client("cloudformation").list_stacks()["StackSummaries"],
                session.client("s3").list_buckets()["Buckets"]) == before


def test_a_sender_that_is_no_verified_identity_is_refused_with_how_to_verify_it(tmp_path: Path):
    with mock_aws():
        session = account_session()
        set_up_account(session)
        with pytest.raises(prerequisites.PrerequisiteError) as refused:
            flow.deploy("dev", project_dir=tmp_path, session=session, sender_email="noreply@elsewhere.example",
                        log=lambda line: None)
        message = str(refused.value)
        assert ("neither noreply@elsewhere.example nor its domain elsewhere.example is a verified SES identity"
                in message)
        assert "aws sesv2 create-email-identity --email-identity elsewhere.example" in message  # DKIM domain
        assert "API Gateway logging" not in message
        ses = session.client("ses")
        assert prerequisites.verified_identity(ses, SENDER) == "shop.example"
        ses.verify_email_identity(EmailAddress=SENDER)
        assert prerequisites.verified_identity(ses, SENDER) == SENDER  # the address's own identity first


def test_the_sender_identity_is_the_accounts_not_the_stacks_and_cognito_mails_through_it(deployment: Deployed):
    """No AWS::SES::EmailIdentity (it fails when the identity exists: a second stage, or one verified by
    hand); the functions send as the verified identity; Cognito uses SES (DEVELOPER), not its own mail."""
    assert not [r for r in load_template()["Resources"].values() if r["Type"].startswith("AWS::SES::")]
    assert deployment.config.environment_variables[settings.SENDER_EMAIL] == SENDER
    written = json.loads((deployment.project_dir / ".chalice" /
                          policies.policy_file_name(deployment.stage, "send_notifications")).read_text())
    identity_arn = f"arn:aws:ses:{REGION}:{deployment.account}:identity/shop.example"
    assert [st["Resource"] for st in written["Statement"] if st["Action"] == ["ses:SendEmail"]] == [[identity_arn]]
    pool = deployment.client("cognito-idp").describe_user_pool(UserPoolId=deployment.result.outputs["UserPoolId"])
    assert pool["UserPool"]["EmailConfiguration"] == {
        "EmailSendingAccount": "DEVELOPER", "From": SENDER, "SourceArn": identity_arn}


def test_a_new_accounts_cloudfront_refusal_is_explained():
    reason = ("SiteDistribution: Resource handler returned message: \"Your account must be verified before you "
              "can add new CloudFront resources. To verify your account, please contact AWS Support\"")
    assert "AWS Support" in resources.explain([reason]) and "make deploy again" in resources.explain([reason])
    assert resources.explain(["UploadsBucket: already exists"]) == ""


# --- a protected stage (prod) ------------------------------------------------------------------------

def test_only_prod_is_deployed_with_its_data_protected():
    assert flow.PROTECTED_STAGES == {"prod"}
    assert flow.stack_parameters("prod", "a@b.example", "b.example")["DataProtection"] == "true"
    assert flow.stack_parameters("dev", "a@b.example", "b.example")["DataProtection"] == "false"


def test_a_protected_stage_keeps_its_tables_and_user_pool_from_deletion():
    stage = "pt" + uuid.uuid4().hex[:6]
    with mock_aws():
        outputs = create_local_stack(stage, None, REGION, {"DataProtection": "true"})
        ddb = boto3.client("dynamodb", region_name=REGION)
        table = f"storefront-{stage}-orders"
        assert ddb.describe_table(TableName=table)["Table"]["DeletionProtectionEnabled"] is True
        with pytest.raises(botocore.exceptions.ClientError, match="DeletionProtectionEnabled is set to True"):
            ddb.delete_table(TableName=table)
        pool = boto3.client("cognito-idp", region_name=REGION).describe_user_pool(UserPoolId=outputs["UserPoolId"])
        assert pool["UserPool"]["DeletionProtection"] == "ACTIVE"


@pytest.mark.parametrize("confirmation", [None, "", "prod", "destroy dev", "DESTROY PROD", "destroy prod "])
def test_destroying_prod_is_refused_without_the_typed_confirmation(confirmation: str | None):
    untouchable = object()  # any AWS call through it would fail: nothing may happen before the check
    with pytest.raises(flow.NotConfirmed, match="type 'destroy prod'"):
        flow.destroy("prod", session=untouchable, confirmation=confirmation)  # type: ignore[arg-type]


def test_make_destroy_of_prod_without_a_terminal_or_confirm_exits_2(monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str]):
    from deploy import __main__ as cli

    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    monkeypatch.setattr(flow.boto3, "Session", lambda *a, **k: pytest.fail("an AWS session was opened"))
    assert cli.main(["destroy", "--stage", "prod"]) == 2
    assert "type 'destroy prod'" in capsys.readouterr().err
    assert cli.main(["destroy", "--stage", "prod", "--confirm", "yes"]) == 2


def test_make_destroy_of_prod_asks_on_a_terminal(monkeypatch: pytest.MonkeyPatch):
    from deploy import __main__ as cli

    destroyed: list[tuple[str, str | None]] = []
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: "destroy prod")
    monkeypatch.setattr(flow, "destroy", lambda stage, confirmation=None: destroyed.append((stage, confirmation)))
    assert cli.main(["destroy", "--stage", "prod"]) == 0
    assert destroyed == [("prod", "destroy prod")]


# --- the web app: site bucket, config.js, invalidation, CORS origin ---------------------------------

def _object_keys(s3: Any, bucket: str) -> set[str]:
    return {item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}


def test_the_site_bucket_holds_every_file_of_web_with_its_content_type_and_the_stage_config(deployment: Deployed):
    s3, outputs = deployment.client("s3"), deployment.result.outputs
    bucket = outputs["SiteBucketName"]
    assert bucket == f"storefront-{deployment.stage}-site-{deployment.account}-{REGION}"
    files = site_files()
    assert "index.html" in files and any(key.startswith("js/views/") for key in files)
    assert _object_keys(s3, bucket) == {*files, "config.js"}
    for key, path in files.items():
        stored = s3.get_object(Bucket=bucket, Key=key)
        assert stored["Body"].read() == path.read_bytes(), key
        assert (stored["ContentType"], stored["CacheControl"]) == (content_type(key), cache_control(key)), key
    assert content_type("index.html") == "text/html; charset=utf-8"
    assert content_type("js/app.js") == "text/javascript; charset=utf-8"
    assert content_type("css/app.css") == "text/css; charset=utf-8"
    assert cache_control("index.html") == cache_control("config.js") == "no-cache"
    (rest_api,) = [r for r in deployment.result.deployed["resources"] if r["resource_type"] == "rest_api"]
    api_url = rest_api["rest_api_url"].rstrip("/")
    assert api_url.startswith("https://") and api_url.endswith(f"/{deployment.config.api_gateway_stage}")
    stored = s3.get_object(Bucket=bucket, Key="config.js")
    # same origin for the API; the dev stack's server writes it the same way
    assert stored["Body"].read() == config_script("/api", deployment.result.websocket_url)
    assert (stored["ContentType"], stored["CacheControl"]) == ("text/javascript; charset=utf-8", "no-cache")


def test_the_deploy_invalidates_the_whole_distribution(deployment: Deployed):
    cloudfront = deployment.client("cloudfront")
    distribution_id = deployment.result.outputs["SiteDistributionId"]
    listed = cloudfront.list_invalidations(DistributionId=distribution_id)["InvalidationList"]["Items"]
    assert deployment.result.site.invalidation_id in [i["Id"] for i in listed]  # (every publish makes one)
    invalidation = cloudfront.get_invalidation(DistributionId=distribution_id,
                                               Id=deployment.result.site.invalidation_id)["Invalidation"]
    assert invalidation["InvalidationBatch"]["Paths"]["Items"] == ["/*"]


def test_the_api_allows_the_site_origin_only(deployment: Deployed):
    site_url = deployment.result.outputs["SiteUrl"]
    distribution = deployment.client("cloudfront").get_distribution(Id=deployment.result.outputs["SiteDistributionId"])
    assert site_url == f"https://{distribution['Distribution']['DomainName']}" == deployment.result.site.url
    assert deployment.config.environment_variables[settings.WEB_ORIGIN] == site_url
    origins = {entry.cors.allow_origin for methods in deployment.app.routes.values() for entry in methods.values()}
    assert origins == {site_url}
    apigw = deployment.client("apigateway")
    (api,) = [a for a in apigw.get_rest_apis()["items"] if a["name"] == "storefront"]
    orders = _resource_id(apigw, api["id"], "/orders")
    preflight = apigw.get_integration_response(restApiId=api["id"], resourceId=orders,
                                               httpMethod="OPTIONS", statusCode="200")
    assert preflight["responseParameters"]["method.response.header.Access-Control-Allow-Origin"] == f"'{site_url}'"
    uploads = deployment.result.outputs["UploadsBucketName"]
    (rule,) = deployment.client("s3").get_bucket_cors(Bucket=uploads)["CORSRules"]
    assert rule["AllowedOrigins"] == [site_url]  # the browser's presigned PUT


def test_product_media_urls_are_stable_urls_on_the_site_distribution(deployment: Deployed, monkeypatch):
    """A presigned GET signed by the image handler's role dies with the role's session (hours) and that
    role may not read products/*: deployed stages get <SiteUrl>/media/<key>, which the distribution's
    media behaviours serve from the uploads bucket (infra/template.yaml)."""
    from chalicelib import uploads

    site_url = deployment.result.outputs["SiteUrl"]
    assert deployment.config.environment_variables[settings.MEDIA_BASE_URL] == f"{site_url}/media"
    monkeypatch.setenv(settings.MEDIA_BASE_URL, f"{site_url}/media")
    assert uploads.media_url("products/p-1/abc.png") == f"{site_url}/media/products/p-1/abc.png"
    config = deployment.client("cloudfront").get_distribution_config(
        Id=deployment.result.outputs["SiteDistributionId"])["DistributionConfig"]
    assert {b["PathPattern"] for b in config["CacheBehaviors"]["Items"]} >= {"/media/products/*",
                                                                              "/media/thumbnails/*"}
    (media,) = [o for o in config["Origins"]["Items"] if o["Id"] == "media"]
    assert media["DomainName"] == f"{deployment.result.outputs['UploadsBucketName']}.s3.{REGION}.amazonaws.com"


def test_the_distribution_routes_api_to_the_api_stage_so_the_web_app_has_one_origin(deployment: Deployed):
    cloudfront, distribution_id = deployment.client("cloudfront"), deployment.result.outputs["SiteDistributionId"]
    (rest_api,) = post_deploy.resources_of(deployment.result.deployed, "rest_api")
    domain = rest_api["rest_api_url"].split("//", 1)[1].split("/", 1)[0]
    assert rest_api["rest_api_url"].rstrip("/").endswith(f"/{site.API_PATH.strip('/')}")  # the stage is `api`
    config = cloudfront.get_distribution_config(Id=distribution_id)["DistributionConfig"]
    (api_origin,) = [o for o in config["Origins"]["Items"] if o["Id"] == site.API_ORIGIN_ID]
    assert api_origin["DomainName"] == domain
    assert api_origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    (api,) = [b for b in config["CacheBehaviors"]["Items"] if b["PathPattern"] == "/api/*"]
    assert api["TargetOriginId"] == "api" and api["ViewerProtocolPolicy"] == "https-only"
    assert sorted(api["AllowedMethods"]["Items"]) == sorted(["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST",
                                                             "DELETE"])
    assert (api["CachePolicyId"], api["OriginRequestPolicyId"]) == (site.CACHING_DISABLED,
                                                                    site.ALL_VIEWER_EXCEPT_HOST_HEADER)
    assert {o["Id"] for o in config["Origins"]["Items"]} == {"site-bucket", "media", "api"}
    assert site.route_api(cloudfront, distribution_id, rest_api["rest_api_url"]) is False  # in place: no update


def test_publishing_again_deletes_what_web_no_longer_has(deployment: Deployed, tmp_path: Path):
    s3, outputs = deployment.client("s3"), deployment.result.outputs
    bucket = outputs["SiteBucketName"]
    s3.put_object(Bucket=bucket, Key="js/views/removed.js", Body=b"export {};")
    (tmp_path / "index.html").write_bytes((WEB_ROOT / "index.html").read_bytes())
    (tmp_path / "config.js").write_text("window.STOREFRONT_CONFIG = {};")  # on disk: never published
    published = site.publish(s3, deployment.client("cloudfront"), bucket=bucket, root=tmp_path,
                             distribution_id=outputs["SiteDistributionId"], site_url=outputs["SiteUrl"],
                             api_url="https://api.example/api")
    assert _object_keys(s3, bucket) == {"index.html", "config.js"} == set(published.uploaded)
    assert "js/views/removed.js" in published.deleted and "js/app.js" in published.deleted
    assert s3.get_object(Bucket=bucket, Key="config.js")["Body"].read() == config_script("https://api.example/api")
    site.publish_stage(boto3.Session(region_name=REGION), outputs, deployment.result.deployed)  # as deployed again
    assert _object_keys(s3, bucket) == {*site_files(), "config.js"}


def test_the_websocket_api_has_its_routes_and_only_the_posting_functions_may_manage_its_connections(
        deployment: Deployed):
    api = post_deploy.websocket_api(deployment.result.deployed)
    assert api is not None
    api_id = api["websocket_api_id"]
    assert deployment.result.websocket_url == f"wss://{api_id}.execute-api.{REGION}.amazonaws.com/api"
    v2 = deployment.client("apigatewayv2")
    live = v2.get_api(ApiId=api_id)
    assert (live["ProtocolType"], live["Name"]) == ("WEBSOCKET", f"storefront-{deployment.stage}-websocket-api")
    integrations = {i["IntegrationId"]: i["IntegrationUri"] for i in v2.get_integrations(ApiId=api_id)["Items"]}
    routes = {r["RouteKey"]: integrations[r["Target"].removeprefix("integrations/")]
              for r in v2.get_routes(ApiId=api_id)["Items"]}
    assert set(routes) == {"$connect", "$default", "$disconnect"}
    for route, uri in routes.items():
        assert deployment.function_arn(policies.WEBSOCKET_FUNCTIONS[route]) in uri
    assert [stage["StageName"] for stage in v2.get_stages(ApiId=api_id)["Items"]] == ["api"]
    # Every function sees the API's id; the pusher and the message handler may post to its connections, only.
    assert deployment.config.environment_variables[settings.WEBSOCKET_API_ID] == api_id
    scoped = f"arn:aws:execute-api:{REGION}:{deployment.account}:{api_id}/api/POST/@connections/*"
    iam = deployment.client("iam")
    for function in policies.function_names(deployment.app):
        role = deployment.client("lambda").get_function(
            FunctionName=deployment.function_name(function))["Configuration"]["Role"].rsplit("/", 1)[1]
        (name,) = iam.list_role_policies(RoleName=role)["PolicyNames"]
        statements = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]["Statement"]
        manage = [s for s in statements if "execute-api:ManageConnections" in s["Action"]]
        if function in ("push_updates", "websocket_message"):
            (statement,) = manage
            assert statement["Action"] == ["execute-api:ManageConnections"] and statement["Resource"] == [scoped]
        else:
            assert manage == [], function


def test_the_web_apps_config_names_the_websocket_url(deployment: Deployed):
    body = deployment.client("s3").get_object(Bucket=deployment.result.outputs["SiteBucketName"],
                                              Key="config.js")["Body"].read().decode()
    assert json.dumps(deployment.result.websocket_url) in body


# --- fulfilment: the state machine, its role, the webhook's secret and the functions' grants ----------

def test_the_fulfilment_state_machine_its_role_secret_and_grants(deployment: Deployed):
    outputs, stage = deployment.result.outputs, deployment.stage
    machine = deployment.client("stepfunctions").describe_state_machine(
        stateMachineArn=outputs["FulfilmentStateMachineArn"])
    assert (machine["name"], machine["type"]) == (f"storefront-{stage}-fulfilment", "STANDARD")
    iam = deployment.client("iam")
    role = iam.get_role(RoleName=f"storefront-{stage}-fulfilment")["Role"]
    assert machine["roleArn"] == role["Arn"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "states.amazonaws.com"}
    (policy_name,) = iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"]
    document = iam.get_role_policy(RoleName=role["RoleName"], PolicyName=policy_name)["PolicyDocument"]
    (statement,) = document["Statement"]
    assert statement["Action"] == "sqs:SendMessage"
    assert sorted(statement["Resource"]) == [deployment.queue_arn("fulfilment-tasks"),
                                             deployment.queue_arn("warehouse")]
    secret = deployment.client("secretsmanager").get_secret_value(SecretId=outputs["CarrierWebhookSecretArn"])
    assert secret["Name"] == f"storefront/{stage}/carrier-webhook-secret"
    assert len(json.loads(secret["SecretString"])["secret"]) == 64
    scoped = deployment.config.scope(stage, "api_handler").environment_variables
    assert scoped["STOREFRONT_FULFILMENT_STATE_MACHINE_ARN"] == outputs["FulfilmentStateMachineArn"]
    assert scoped["STOREFRONT_CARRIER_SECRET_ARN"] == outputs["CarrierWebhookSecretArn"]

    executions = f"arn:aws:states:{REGION}:{deployment.account}:execution:storefront-{stage}-fulfilment:*"
    secret_arn = (f"arn:aws:secretsmanager:{REGION}:{deployment.account}:secret:"
                  f"storefront/{stage}/carrier-webhook-secret-*")
    expected = {
        "api_handler": {("states:SendTaskSuccess", "*"), ("states:StopExecution", executions),
                        ("states:DescribeExecution", executions), ("secretsmanager:GetSecretValue", secret_arn)},
        "apply_payment_results": {("states:StartExecution", outputs["FulfilmentStateMachineArn"])},
        "handle_fulfilment_tasks": {("states:SendTaskSuccess", "*"), ("states:StopExecution", executions)},
        "relay_fulfilment": {("states:SendTaskSuccess", "*"), ("states:StopExecution", executions)},
        "pack_orders": {("states:SendTaskSuccess", "*")},
    }
    lam = deployment.client("lambda")
    for function in policies.function_names(deployment.app):
        role_name = lam.get_function(FunctionName=deployment.function_name(function))["Configuration"]["Role"]
        role_name = role_name.rsplit("/", 1)[1]
        (name,) = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
        document = iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
        granted = {(action, resource) for s in document["Statement"] for action in s["Action"]
                   for resource in s["Resource"] if action.startswith(("states:", "secretsmanager:"))}
        assert granted == expected.get(function, set()), function
