"""The real dev stack (`python -m devstack`, what `make dev` runs) on free ports, once per test run.

All end-to-end and browser tests share it (one xdist group; the `devstack` fixture in tests/conftest.py
runs `running_devstack()`), talk to it over HTTP and boto3 only, and use unique ids so they stay
independent.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
READY_DEADLINE_S = 120
SHIP_DEADLINE_S = DELIVERY_DEADLINE_S = 10


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def poll(check: Callable[[], Any], deadline_s: float = 20, interval_s: float = 0.2, what: str = "condition") -> Any:
    """Call `check` until it returns something truthy; fail after the deadline."""
    deadline = time.monotonic() + deadline_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {deadline_s} s waiting for {what}")
        time.sleep(interval_s)


@dataclass
class DevStack:
    process: subprocess.Popen
    api_url: str
    aws_url: str
    web_url: str
    state_dir: Path
    ws_url: str = ""
    output: list[str] = field(default_factory=list)
    # Denial lines a test provokes on purpose (a revoked grant); any other denial fails the run.
    expected_denials: list[str] = field(default_factory=list)

    @property
    def policy_file(self) -> Path:
        """The stack's enforced IAM policies (devstack/iam.py): rewrite it to revoke a grant."""
        return self.state_dir / "iam-policies.json"

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.aws_url, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def url(self, path: str) -> str:
        return f"{self.api_url}{path}"

    def lines_containing(self, text: str) -> list[str]:
        return [line for line in list(self.output) if text in line]


def _pump(stream: Any, sink: list[str], ready: threading.Event) -> None:
    for raw in iter(stream.readline, ""):
        sink.append(raw.rstrip("\n"))
        if "ready" in raw and "http://" in raw:
            ready.set()


@contextmanager
def running_devstack(overrides: dict[str, str] | None = None) -> Iterator[DevStack]:
    """A dev stack on free ports; `overrides` replaces environment variables of its process."""
    api_port, aws_port, web_port, ws_port = free_port(), free_port(), free_port(), free_port()
    state_dir = Path(tempfile.mkdtemp(prefix="storefront-devstack-"))
    env = {**os.environ, "STOREFRONT_API_PORT": str(api_port), "STOREFRONT_AWS_PORT": str(aws_port),
           "STOREFRONT_WEB_PORT": str(web_port), "STOREFRONT_WS_PORT": str(ws_port),
           "STOREFRONT_DEV_STATE_DIR": str(state_dir),
           "STOREFRONT_DEV_VISIBILITY_TIMEOUT": "2", "STOREFRONT_DEV_SCHEDULE_SECONDS": "2",
           "ORDER_PAYMENT_TIMEOUT_MINUTES": "0.2", "PYTHONUNBUFFERED": "1",
           # Fulfilment (tests/e2e/test_fulfilment.py): pack in 1 s, deliver 2 s after shipping, and
           # deadlines short enough to see both overdue paths within a test.
           "STOREFRONT_DEV_PACK_SECONDS": "1", "STOREFRONT_DEV_CARRIER_SECONDS": "2",
           "STOREFRONT_DEV_SHIP_DEADLINE_SECONDS": str(SHIP_DEADLINE_S),
           "STOREFRONT_DEV_DELIVERY_DEADLINE_SECONDS": str(DELIVERY_DEADLINE_S), **(overrides or {})}
    for name in ("AWS_ENDPOINT_URL", "STOREFRONT_STAGE", "STOREFRONT_WEB_ORIGIN", "STOREFRONT_EVENTS_TOPIC_ARN",
                 "STOREFRONT_WEBSOCKET_API_ID", "STOREFRONT_FULFILMENT_STATE_MACHINE_ARN",
                 "STOREFRONT_CARRIER_SECRET_ARN",
                 "STOREFRONT_OUTBOX_STREAM_ARN", "STOREFRONT_USER_POOL_ID", "STOREFRONT_USER_POOL_CLIENT_ID"):
        env.pop(name, None)
    process = subprocess.Popen([sys.executable, "-m", "devstack"], cwd=ROOT, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    stack = DevStack(process, f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{aws_port}",
                     f"http://127.0.0.1:{web_port}", state_dir, f"ws://127.0.0.1:{ws_port}")
    ready = threading.Event()
    threading.Thread(target=_pump, args=(process.stdout, stack.output, ready), daemon=True).start()
    deadline = time.monotonic() + READY_DEADLINE_S
    while not ready.wait(0.2):
        if process.poll() is not None or time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL) if process.poll() is None else None
            pytest.fail("dev stack did not become ready:\n" + "\n".join(stack.output[-60:]))
    yield stack
    process.send_signal(signal.SIGINT)  # what Ctrl-C does
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        pytest.fail("dev stack did not stop within 30 s of Ctrl-C")
    assert process.returncode == 0, "\n".join(stack.output[-40:])
    for port in (api_port, aws_port, web_port, ws_port):  # nothing it started is left listening
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open after Ctrl-C"
    denials = [line for line in stack.lines_containing("access denied")
               if not any(expected in line for expected in stack.expected_denials)]
    assert not denials, "calls the generated IAM policies do not allow:\n" + "\n".join(denials)
    violations = stack.lines_containing("contract violation")  # devstack/contract.py
    assert not violations, "events that do not match their published schema:\n" + "\n".join(violations)
    shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def http() -> requests.Session:
    return requests.Session()
