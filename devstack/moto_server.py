"""Run moto's server (the AWS emulator) as a child process for the dev stack and the tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO

HOST = "127.0.0.1"
STACK_LOG_FD = "STOREFRONT_DEV_STACK_LOG_FD"  # where moto server writes the harness's own log lines


PROJECT_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class MotoServer:
    """`with MotoServer(port) as moto: ... moto.endpoint_url ...`

    Starts `python -m moto.server` in its own process group, waits until `/moto-api/` answers,
    turns on its Step Functions executor, and on exit stops the whole group (SIGTERM, then SIGKILL
    if it does not stop in time).

    Step Functions: moto only records executions unless `{"stepfunctions": {"execute_state_machine":
    true}}` is posted to `/moto-api/config`; its interpreter then calls the other services at
    `http://localhost:$MOTO_PORT`, and `moto.server` sets MOTO_PORT only when it is unset, so the
    child gets its own port explicitly (an inherited value would send every task elsewhere).
    """

    def __init__(
        self,
        port: int | None = None,
        log_path: str | Path | None = None,
        start_timeout: float = 30.0,
        stop_timeout: float = 5.0,
    ) -> None:
        self.port = port or free_port()
        self.log_path = Path(log_path) if log_path else None
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> MotoServer:
        if self._process is not None:
            raise RuntimeError("moto server already started")
        output: IO[bytes] | int = subprocess.DEVNULL
        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = output = self.log_path.open("ab")
        # The harness's own lines (an S3 request the signer's policy denies) go to our stdout, with the
        # stack's other lines; moto's request log goes to the log file.
        stack_log = os.dup(sys.stdout.fileno())
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "devstack.moto_main", "-H", HOST, "-p", str(self.port)],
                cwd=PROJECT_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                pass_fds=(stack_log,),
                env={**os.environ, STACK_LOG_FD: str(stack_log), "MOTO_PORT": str(self.port)},
            )
        finally:
            os.close(stack_log)
        try:
            self._wait_ready()
            self._execute_state_machines()
        except BaseException:
            self.stop()
            raise
        return self

    def _execute_state_machines(self) -> None:
        request = urllib.request.Request(
            f"{self.endpoint_url}/moto-api/config", method="POST",
            data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as response:
            if response.status != 201 and response.status != 200:
                raise RuntimeError(f"moto refused the Step Functions config: HTTP {response.status}")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        url = f"{self.endpoint_url}/moto-api/"
        while True:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"moto server exited with code {self._process.returncode} before it was ready"
                    f" (port {self.port}; log: {self.log_path or 'not kept'})"
                )
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"moto server not ready at {url} after {self.start_timeout:.0f} s")
            time.sleep(0.05)  # poll interval of the deadline loop above

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            _signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait(timeout=self.stop_timeout)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)  # the child leads its own group (start_new_session=True)
    except ProcessLookupError:
        pass
