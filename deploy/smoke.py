"""`python -m deploy.smoke --stage <stage>`: is a deployed stage answering as the API contract says?

Reads the stage's API URL from Chalice's deployed state (`.chalice/deployed/<stage>.json`, the
`rest_api` resource's `rest_api_url`), or takes `--url`, then checks over HTTP:

- GET /health is 200 `{"status": "ok"}`;
- GET /products is 200 with the list shape (`items` of products, `next_cursor`), checked with the
  route's own response schema;
- GET /orders without a token is 401 with an error body: the app's `{"Code": "UnauthorizedError",
  "Message": ...}` or API Gateway's own `{"message": "Unauthorized"}` (its authorizer answers a
  request without an Authorization header itself; the API contract allows either, README and docs/architecture.md).

A fresh deployment can take a few seconds to answer everywhere, so failing checks are retried until
`--wait` seconds have passed. Exit 0 when every check passes, 1 with one line per failure otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.catalog.api import PRODUCT_PAGE
from chalicelib.errors import InvalidInput
from chalicelib.system.api import HEALTH
from deploy.flow import ROOT, deployed_state
from deploy.post_deploy import rest_api

REQUEST_TIMEOUT_SECONDS = 10.0
RETRY_EVERY_SECONDS = 5.0
Log = Callable[[str], None]


@dataclass(frozen=True)
class Response:
    status: int
    body: Any  # parsed JSON, or the raw text when it is not JSON


@dataclass(frozen=True)
class Check:
    method: str
    path: str
    expect: Callable[[Response], str | None]  # what is wrong, or None

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


def _schema_problem(schema: Any, body: Any) -> str | None:
    try:
        schema.validate(body)
    except InvalidInput as invalid:
        return "; ".join(f"{e['field']} {e['message']}" for e in invalid.errors)
    return None


def _health(response: Response) -> str | None:
    if response.status != 200:
        return f"status {response.status}, expected 200"
    if response.body != {"status": "ok"}:
        return f"body {response.body!r}, expected {{'status': 'ok'}}"
    return _schema_problem(HEALTH, response.body)


def _products(response: Response) -> str | None:
    if response.status != 200:
        return f"status {response.status}, expected 200"
    problem = _schema_problem(PRODUCT_PAGE, response.body)
    return f"not the contract's list of products: {problem}" if problem else None


def _unauthorized(response: Response) -> str | None:
    if response.status != 401:
        return f"status {response.status}, expected 401"
    body = response.body
    app_error = (isinstance(body, dict) and body.get("Code") == "UnauthorizedError"
                 and isinstance(body.get("Message"), str))
    if not app_error and body != {"message": "Unauthorized"}:
        return (f"body {body!r}, expected {{'Code': 'UnauthorizedError', 'Message': ...}} "
                "or API Gateway's {'message': 'Unauthorized'}")
    return None


CHECKS = (Check("GET", "/health", _health), Check("GET", "/products", _products),
          Check("GET", "/orders", _unauthorized))


def api_url(stage: str, project_dir: Path = ROOT) -> str:
    """The stage's REST API URL as Chalice recorded it when it deployed the stage."""
    path = project_dir / ".chalice" / "deployed" / f"{stage}.json"
    if not path.exists():
        raise SystemExit(f"error: no {path.relative_to(project_dir)}: deploy the stage from here "
                         "(make deploy) or restore its state first, or pass --url")
    try:
        return rest_api(deployed_state(project_dir, stage))["rest_api_url"]
    except ValueError as exc:
        raise SystemExit(f"error: {path.relative_to(project_dir)}: {exc}") from None


def fetch(url: str, method: str = "GET") -> Response:
    request = urllib.request.Request(url, method=method, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_SECONDS) as reply:
            status, raw = reply.status, reply.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    text = raw.decode("utf-8", errors="replace")
    try:
        return Response(status, json.loads(text))
    except ValueError:
        return Response(status, text)


def failures(base_url: str) -> list[str]:
    """One line per failing check (empty when the stage answers as the contract says)."""
    out = []
    for check in CHECKS:
        url = base_url.rstrip("/") + check.path
        try:
            problem = check.expect(fetch(url, check.method))
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            problem = f"no answer: {getattr(error, 'reason', error)}"
        if problem:
            out.append(f"{check.name} ({url}): {problem}")
    return out


def smoke(base_url: str, wait_seconds: float, log: Log = print) -> bool:
    deadline = time.monotonic() + wait_seconds
    while True:
        failed = failures(base_url)
        if not failed or time.monotonic() + RETRY_EVERY_SECONDS > deadline:
            break
        log(f"{len(failed)} check(s) failing, retrying in {RETRY_EVERY_SECONDS:.0f} s: {failed[0]}")
        time.sleep(RETRY_EVERY_SECONDS)
    for line in failed:
        log(f"FAIL {line}")
    log(f"smoke test of {base_url}: {len(CHECKS) - len(failed)}/{len(CHECKS)} checks passed")
    return not failed


def main(argv: list[str] | None = None, log: Log = print) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.smoke", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", help="read the API URL from .chalice/deployed/<stage>.json")
    parser.add_argument("--url", help="the API's base URL (instead of --stage)")
    parser.add_argument("--wait", type=float, default=60.0, help="retry failing checks this long (default 60 s)")
    args = parser.parse_args(argv)
    if bool(args.stage) == bool(args.url):
        parser.error("give exactly one of --stage and --url")
    return 0 if smoke(args.url or api_url(args.stage), args.wait, log) else 1


if __name__ == "__main__":
    sys.exit(main())
