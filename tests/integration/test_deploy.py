"""The proof of `make deploy` / `make destroy`: the whole flow of deploy/flow.py runs in-process
against moto (`mock_aws`), then the test checks what exists against what the app declares.

Four emulator gaps are bridged here, and only here:
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
import pytest
from chalice import awsclient
from chalice.config import Config
from moto import mock_aws
from moto.awslambda.models import lambda_backends

from chalicelib import settings
from deploy import flow, layers, packaging, policies, post_deploy, resources, site
from devstack.moto_fixes import honour_secure_transport_condition
from devstack.provision import create_local_stack
from infra.parameters import payment_provider_key_name
from infra.site import SITE_BUCKET, WEB_ROOT, cache_control, config_script, content_type, site_files
from infra.stack import stack_name

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
    return api_id


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


def emulator_stack(cfn: Any, stage: str, parameters: dict[str, str]) -> dict[str, str]:
    return create_local_stack(stage, None, REGION, {k: v for k, v in parameters.items() if k != "Stage"})


class Deployed:
    """The result of one deploy, plus the app as deployed and clients to look at the account."""

    def __init__(self, project_dir: Path, result: flow.DeployResult, app: Any) -> None:
        self.project_dir, self.result, self.app, self.stage = project_dir, result, app, result.stage
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
        declared = [*self.app.event_sources, *self.app.builtin_auth_handlers, *self.app.pure_lambda_functions]
        return next(d.handler_string for d in declared if d.name == function)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    project_dir = copy_project(tmp_path_factory.mktemp("project"))
    stage = "dt" + uuid.uuid4().hex[:6]
    honour_secure_transport_condition()
    with mock_aws(), pytest.MonkeyPatch.context() as mp, fresh_app_import(project_dir):
        mp.setattr(awsclient.TypedAWSClient, "import_rest_api", import_swagger_into_moto)
        mp.setattr(awsclient.TypedAWSClient, "_client", with_moto_s3_filter_names(awsclient.TypedAWSClient._client))
        mp.setattr(resources, "POLL_SECONDS", 0.01)
        result = flow.deploy(stage, project_dir=project_dir, session=boto3.Session(region_name=REGION),
                             stack_deployer=emulator_stack, log=lambda line: None)
        app = sys.modules["app"].app
        deployed = Deployed(project_dir, result, app)
        yield deployed
        flow.destroy(stage, project_dir=project_dir, session=boto3.Session(region_name=REGION),
                     stack_deleter=delete_stack_of_emptied_buckets, log=lambda line: None)
        _assert_destroyed(deployed)


def delete_stack_of_emptied_buckets(cfn: Any, stage: str) -> None:
    """The stack deletion of `make destroy`, after checking the buckets were emptied before it (on AWS
    CloudFormation cannot delete a bucket that holds objects)."""
    s3 = boto3.client("s3", region_name=REGION)
    for bucket in (settings.resource_name("uploads", stage), settings.resource_name(SITE_BUCKET, stage)):
        assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0, bucket
    resources.delete_stack(cfn, stage, poll=0.01)


def _assert_destroyed(d: Deployed) -> None:
    lam = d.client("lambda")
    left = [f["FunctionName"] for f in lam.list_functions()["Functions"]
            if f["FunctionName"].startswith(f"storefront-{d.stage}")]
    assert left == [], left
    assert [a for a in d.client("apigateway").get_rest_apis()["items"] if a["name"] == "storefront"] == []
    assert [m for m in lam.list_event_source_mappings()["EventSourceMappings"] if d.stage in m["FunctionArn"]] == []
    stacks = d.client("cloudformation").list_stacks()["StackSummaries"]
    assert all(s["StackStatus"] == "DELETE_COMPLETE" for s in stacks if s["StackName"] == stack_name(d.stage))
    assert lam.list_layer_versions(LayerName=layers.layer_name(d.stage))["LayerVersions"] == []
    assert not (d.project_dir / ".chalice" / "deployed" / f"{d.stage}.json").exists() or \
        json.loads((d.project_dir / ".chalice" / "deployed" / f"{d.stage}.json").read_text())["resources"] == []
    # The API key stays (docs/deploy.md, deleting a stage): it may be the operator's real key.
    assert d.client("ssm").get_parameter(Name=payment_provider_key_name(d.stage))["Parameter"]["Type"] == "SecureString"


def test_every_function_has_its_handler_memory_timeout_environment_and_own_role(deployment: Deployed):
    lam, iam = deployment.client("lambda"), deployment.client("iam")
    functions = policies.function_names(deployment.app)
    assert {"api_handler", "jwt_authorizer", *(s.name for s in deployment.app.event_sources)} == set(functions)
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


def test_only_the_image_handler_has_the_pillow_layer_and_no_function_zip_carries_pillow(deployment: Deployed):
    """Per-function `layers` (`stages.<stage>.lambda_functions.<function>.layers`, read by Chalice 1.34
    per stage and function): the layer is attached where Pillow is imported, and nowhere else."""
    lam = deployment.client("lambda")
    layer = deployment.result.layer
    (latest,) = lam.list_layer_versions(LayerName=layers.layer_name(deployment.stage))["LayerVersions"]
    assert latest["LayerVersionArn"] == layer.version_arn
    assert latest["Description"] == f"sha256:{layer.sha256}"
    assert packaging.LAYER_FUNCTIONS == ("attach_uploaded_image",)
    backend = lambda_backends[deployment.account][REGION]
    for function in policies.function_names(deployment.app):
        config = lam.get_function(FunctionName=deployment.function_name(function))["Configuration"]
        attached = [entry["Arn"] for entry in config.get("Layers", [])]
        assert attached == ([layer.version_arn] if function in packaging.LAYER_FUNCTIONS else []), function
        assert config["CodeSize"] < 5 * 2**20, function
        with zipfile.ZipFile(io.BytesIO(backend.get_function(deployment.function_name(function)).code_bytes)) as z:
            top = {name.split("/", 1)[0] for name in z.namelist()}
        assert not top & {"PIL", "pillow.libs", "botocore", "boto3"}, (function, sorted(top))
        assert "chalicelib" in top
    with zipfile.ZipFile(deployment.project_dir / ".chalice" / "deployments" / _layer_file(deployment)) as z:
        assert "python/PIL/Image.py" in z.namelist()
        assert any(name.startswith("python/pillow.libs/") for name in z.namelist())


def _layer_file(deployment: Deployed) -> str:
    return packaging.layer_filename(deployment.project_dir, "python3.11").name


def test_an_unchanged_layer_is_not_published_again(deployment: Deployed):
    lam = deployment.client("lambda")
    zip_path = deployment.project_dir / ".chalice" / "deployments" / _layer_file(deployment)
    again = layers.publish(lam, deployment.stage, zip_path, "python3.11", "x86_64")
    assert again.published is False
    assert again.version_arn == deployment.result.layer.version_arn
    assert len(lam.list_layer_versions(LayerName=layers.layer_name(deployment.stage))["LayerVersions"]) == 1


def test_the_stage_config_has_the_stack_outputs_and_no_generated_policy(deployment: Deployed):
    section = json.loads((deployment.project_dir / ".chalice" / "config.json").read_text())["stages"][deployment.stage]
    assert section["autogen_policy"] is False
    assert section["iam_policy_file"] == f"policy-{deployment.stage}.json"
    assert "layers" not in section
    assert {name for name, function in section["lambda_functions"].items() if "layers" in function} == \
        set(packaging.LAYER_FUNCTIONS)
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


def test_the_sns_handlers_are_subscribed_to_their_topic(deployment: Deployed):
    sources = deployment.sources("SNSEventConfig")
    assert sources
    sns = deployment.client("sns")
    for source in sources:
        topic_arn = f"arn:aws:sns:{REGION}:{deployment.account}:{source.topic}"
        subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
        assert {"Protocol": "lambda", "Endpoint": deployment.function_arn(source.name)}.items() <= \
            next(s for s in subscriptions if s["Protocol"] == "lambda").items()


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
    flow.deploy(deployment.stage, project_dir=deployment.project_dir, session=boto3.Session(region_name=REGION),
                stack_deployer=lambda cfn, stage, parameters: deployment.result.outputs, log=lines.append)

    assert ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == real_key
    assert f"SecureString {name} exists: left as it is" in lines
    files = [p.read_text() for p in [*chalice_dir.glob("*.json"), *chalice_dir.glob("deployed/*.json")]]
    assert files and not any(key in text for key in (real_key, created["Value"]) for text in lines + files)


# --- the CloudFormation step, on what moto's CloudFormation models -----------------------------------

def test_the_resources_stack_is_created_updated_and_deleted():
    template = {"AWSTemplateFormatVersion": "2010-09-09", "Parameters": {"Stage": {"Type": "String"}},
                "Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {
                    "QueueName": {"Fn::Sub": "storefront-${Stage}-probe"}}}},
                "Outputs": {"QueueArn": {"Value": {"Fn::GetAtt": ["Queue", "Arn"]}}}}
    stage = "cf" + uuid.uuid4().hex[:6]
    with mock_aws():
        cfn = boto3.client("cloudformation", region_name=REGION)
        outputs = resources.deploy_stack(cfn, stage, {"Stage": stage}, template, poll=0.01)
        assert outputs["QueueArn"].endswith(f":storefront-{stage}-probe")
        assert resources.deploy_stack(cfn, stage, {"Stage": stage}, template, poll=0.01) == outputs  # no change
        template["Resources"]["Queue"]["Properties"]["VisibilityTimeout"] = 60
        resources.deploy_stack(cfn, stage, {"Stage": stage}, template, poll=0.01)
        url = boto3.client("sqs", region_name=REGION).get_queue_url(QueueName=f"storefront-{stage}-probe")["QueueUrl"]
        attributes = boto3.client("sqs", region_name=REGION).get_queue_attributes(
            QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"]
        assert attributes["VisibilityTimeout"] == "60"
        resources.delete_stack(cfn, stage, poll=0.01)
        assert resources._existing_status(cfn, stack_name(stage)) in (None, "DELETE_COMPLETE")


# --- the web app: site bucket, config.js, invalidation, CORS origin ---------------------------------

def _object_keys(s3: Any, bucket: str) -> set[str]:
    return {item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}


def test_the_site_bucket_holds_every_file_of_web_with_its_content_type_and_the_stage_config(deployment: Deployed):
    s3, outputs = deployment.client("s3"), deployment.result.outputs
    bucket = outputs["SiteBucketName"]
    assert bucket == f"storefront-{deployment.stage}-site"
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
    assert stored["Body"].read() == config_script(api_url)  # the dev stack's server writes it the same way
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
    (rule,) = deployment.client("s3").get_bucket_cors(Bucket=f"storefront-{deployment.stage}-uploads")["CORSRules"]
    assert rule["AllowedOrigins"] == [site_url]  # the browser's presigned PUT


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
