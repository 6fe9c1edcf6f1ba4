"""The local stack behind `make dev`: moto server, the resources of infra/, seed data, the WebSocket
gateway, the event delivery and `chalice local`, started in that order and stopped in reverse on
Ctrl-C (or SIGTERM).
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from chalicelib import settings
from devstack import contract, iam, metering
from devstack.delivery import STREAM_POLL_SECONDS
from devstack.moto_server import MotoServer
from devstack.provision import provision
from devstack.web_server import WebServer
from devstack.websocket_gateway import WebSocketGateway, route_management_api

ROOT = Path(__file__).resolve().parent.parent
STAGE = "local"
# The id the local WebSocket gateway gives its API (in each event's requestContext.apiId, and in
# STOREFRONT_WEBSOCKET_API_ID for the pusher); requests to its AWS endpoint are routed to the gateway.
LOCAL_WEBSOCKET_API_ID = "localws"


@dataclass(frozen=True)
class DevConfig:
    api_port: int
    aws_port: int
    web_port: int
    ws_port: int
    region: str
    visibility_timeout: int
    schedule_seconds: float | None
    seed: bool
    state_dir: Path  # moto's log and the stack's IAM policies
    carrier_seconds: int  # the carrier simulator delivers this long after shipping; 0: no simulator
    stream_poll_seconds: float  # the outbox stream's poll interval when idle (Lambda's: ~0.25 s)

    @classmethod
    def from_env(cls) -> DevConfig:
        env = os.environ
        schedule = env.get("STOREFRONT_DEV_SCHEDULE_SECONDS")
        return cls(
            api_port=int(env.get("STOREFRONT_API_PORT", "8000")),
            aws_port=int(env.get("STOREFRONT_AWS_PORT", "5000")),
            web_port=int(env.get("STOREFRONT_WEB_PORT", "8001")),
            ws_port=int(env.get("STOREFRONT_WS_PORT", "8002")),
            region=env.get("AWS_DEFAULT_REGION", "us-east-1"),
            visibility_timeout=int(env.get("STOREFRONT_DEV_VISIBILITY_TIMEOUT", "30")),
            schedule_seconds=float(schedule) if schedule else None,
            seed=env.get("STOREFRONT_DEV_SEED", "1") != "0",
            state_dir=Path(env.get("STOREFRONT_DEV_STATE_DIR") or ROOT / ".devstack"),
            carrier_seconds=int(env.get("STOREFRONT_DEV_CARRIER_SECONDS") or 30),
            stream_poll_seconds=float(env.get("STOREFRONT_DEV_STREAM_POLL_SECONDS") or STREAM_POLL_SECONDS),
        )


def fulfilment_environment(env: dict[str, str]) -> dict[str, str]:
    """The app's fulfilment settings from the dev stack's knobs, which are in seconds: the warehouse's
    packing time, and the ship and delivery deadlines (the app's are in hours and days)."""
    out = {}
    if env.get("STOREFRONT_DEV_PACK_SECONDS"):
        out[settings.WAREHOUSE_PACK_SECONDS] = env["STOREFRONT_DEV_PACK_SECONDS"]
    if env.get("STOREFRONT_DEV_SHIP_DEADLINE_SECONDS"):
        out[settings.SHIP_DEADLINE_HOURS] = repr(float(env["STOREFRONT_DEV_SHIP_DEADLINE_SECONDS"]) / 3600)
    if env.get("STOREFRONT_DEV_DELIVERY_DEADLINE_SECONDS"):
        out[settings.DELIVERY_DEADLINE_DAYS] = repr(float(env["STOREFRONT_DEV_DELIVERY_DEADLINE_SECONDS"]) / 86400)
    return out


def log(message: str) -> None:
    print(f"[devstack] {message}", flush=True)


def wait_for_http(url: str, deadline_s: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {deadline_s:.0f} s")


def start_chalice_local(config: DevConfig) -> subprocess.Popen:
    """`chalice local` itself, in a process that enforces IAM and API Gateway's edge (devstack/local_api.py)."""
    return subprocess.Popen(
        [sys.executable, "-m", "devstack.local_api", "local", "--stage", STAGE, "--host", "127.0.0.1",
         "--port", str(config.api_port), "--no-autoreload"],
        cwd=ROOT, env=os.environ.copy(), start_new_session=True)


def stop_process_group(process: subprocess.Popen, timeout: float = 5) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def media_reader(endpoint_url: str) -> Callable[[str], tuple[bytes, str] | None]:
    """Reads product media from the uploads bucket, as the distribution's origin access does."""
    import boto3
    from botocore.exceptions import ClientError

    s3 = boto3.client("s3", endpoint_url=endpoint_url)
    bucket = settings.upload_settings().bucket

    def read(key: str) -> tuple[bytes, str] | None:
        try:
            found = s3.get_object(Bucket=bucket, Key=key)
        except ClientError:
            return None
        return found["Body"].read(), found.get("ContentType") or "application/octet-stream"

    return read


def stage_environment(stage: str) -> dict[str, str]:
    """The stage's environment variables from .chalice/config.json, merged as Chalice merges them."""
    from chalice.config import Config

    with (ROOT / ".chalice" / "config.json").open(encoding="utf-8") as f:
        return dict(Config(chalice_stage=stage, config_from_disk=json.load(f)).environment_variables)


def run(config: DevConfig) -> int:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    # Any AWS client in this process, `chalice local` and the handlers reach the emulator only.
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": config.region, "AWS_REGION": config.region,
                       "AWS_ENDPOINT_URL": f"http://127.0.0.1:{config.aws_port}",
                       **stage_environment(STAGE)})
    # The local stage's CORS origin follows the web port (chalicelib.settings.web_origin), and product
    # media are served by the web server, as the site's CloudFront distribution serves them deployed.
    os.environ["STOREFRONT_WEB_PORT"] = str(config.web_port)
    os.environ.setdefault(settings.MEDIA_BASE_URL, f"http://127.0.0.1:{config.web_port}/media")
    os.environ[settings.WEBSOCKET_API_ID] = LOCAL_WEBSOCKET_API_ID
    os.environ.pop("AWS_PROFILE", None)
    os.environ.update(fulfilment_environment(dict(os.environ)))
    config.state_dir.mkdir(parents=True, exist_ok=True)
    policy_file = config.state_dir / "iam-policies.json"
    os.environ[iam.POLICY_FILE] = str(policy_file)  # read by chalice local and moto server too
    with ExitStack() as cleanup:
        moto = cleanup.enter_context(MotoServer(config.aws_port, log_path=config.state_dir / "moto.log"))
        log(f"moto server on {moto.endpoint_url}")
        # The uploads bucket lets the browser PUT from where web/ is served, the API's CORS origin.
        os.environ.update(provision(STAGE, moto.endpoint_url, config.region,
                                    {"QueueVisibilityTimeoutSeconds": str(config.visibility_timeout),
                                     "WebOrigin": settings.web_origin() or ""}))
        log("resources of infra/template.yaml created")
        if config.seed:
            from devstack import seed

            seed.seed_all(log)
        app_module = importlib.import_module("app")  # after the environment is complete, as in Lambda
        metering.install()  # bench/cost.py's meter (STOREFRONT_METER_DIR), beneath the IAM checks
        metering.meter_logs(os.environ.get("POWERTOOLS_SERVICE_NAME", "storefront"))
        # Every function's calls are checked against the policy `make deploy` would give it.
        iam.write_policy_file(policy_file, iam.local_policy_documents(app_module.app), iam.LOCAL_ACCOUNT,
                              config.region)
        iam.enforce(iam.Policies(path=policy_file))
        log(f"IAM enforced per function ({policy_file})")
        contract.install_if_enabled()  # every recorded event checked against docs/events/ (devstack/contract.py)
        from devstack.delivery import EventDelivery

        delivery = EventDelivery(app_module.app, endpoint_url=moto.endpoint_url, region=config.region,
                                 stage=STAGE, visibility_timeout=config.visibility_timeout,
                                 schedule_interval_override=config.schedule_seconds,
                                 stream_poll_seconds=config.stream_poll_seconds, log=log)
        gateway = cleanup.enter_context(WebSocketGateway(
            app_module.app, port=config.ws_port, api_id=LOCAL_WEBSOCKET_API_ID,
            stage=settings.websocket_api()[1], region=config.region, log=log))
        route_management_api(app_module.app.websocket_api.session, LOCAL_WEBSOCKET_API_ID, config.region,
                             gateway.management_url)
        log(f"WebSocket gateway on {gateway.url} (management API {gateway.management_url})")
        delivery.setup()
        delivery.start()
        cleanup.callback(delivery.stop)
        api = start_chalice_local(config)
        cleanup.callback(stop_process_group, api)
        api_url = f"http://127.0.0.1:{config.api_port}"
        wait_for_http(f"{api_url}/health", 60, api)
        web = cleanup.enter_context(WebServer(config.web_port, api_url, websocket_url=gateway.url,
                                              read_media=media_reader(moto.endpoint_url)))
        log(f"web app on {web.url}")
        if config.carrier_seconds > 0:
            from devstack.carrier import CarrierSimulator

            carrier = CarrierSimulator(api_url, moto.endpoint_url, config.region, config.carrier_seconds, log)
            carrier.start()
            cleanup.callback(carrier.stop)
            log(f"carrier simulator delivers {config.carrier_seconds} s after shipping")
        print(f"Storefront dev stack ready: API {api_url} web {web.url} WebSocket {gateway.url} "
              f"(AWS emulator {moto.endpoint_url})", flush=True)
        while not stop.wait(0.5):
            if api.poll() is not None:
                log(f"chalice local exited with {api.returncode}; stopping")
                return 1
        log("stopping")
    return 0
