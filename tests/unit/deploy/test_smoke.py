"""The deployed-stage smoke test (deploy/smoke.py), the unit under test here, against a local HTTP
server that answers with canned responses: right ones, and each way a stage can be wrong."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chalicelib.system import readiness
from deploy import smoke

PRODUCT = {"product_id": "p-1", "sku": "SKU-1", "name": "Mug", "description": "A mug", "price_cents": 1200,
           "currency": "USD", "category": "kitchen", "stock": 3, "image_url": None, "thumbnail_url": None,
           "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}
GOOD = {
    "/health": [(200, {"status": "ok"})],
    "/health?deep=1": [(200, {"status": "ok", "checks": {name: "ok" for name in readiness.NAMES}})],
    "/products": [(200, {"items": [PRODUCT], "next_cursor": None})],
    "/orders": [(401, {"Code": "UnauthorizedError", "Message": "A valid bearer token is required"})],
}


class Canned(BaseHTTPRequestHandler):
    """Answers each path with the next of its canned (status, body) pairs; the last one repeats."""

    responses: dict[str, list[tuple[int, object]]] = {}

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        answers = self.responses.get(self.path, [(404, {"message": "Not Found"})])
        status, body = answers.pop(0) if len(answers) > 1 else answers[0]
        raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args) -> None:
        pass


@dataclass
class Api:
    url: str
    responses: dict[str, list]

    def serve(self, path: str, *answers: tuple[int, object]) -> None:
        """Replace what a path answers (in order; the last answer repeats)."""
        self.responses[path][:] = list(answers)


@pytest.fixture
def api() -> Iterator[Api]:
    """A local HTTP server answering `GOOD` until a test changes it."""
    responses = {path: list(answers) for path, answers in GOOD.items()}
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (Canned,), {"responses": responses}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Api(f"http://127.0.0.1:{server.server_port}", responses)
    finally:
        server.shutdown()
        server.server_close()


def run(api: Api, wait: str = "0") -> tuple[int, list[str]]:
    lines: list[str] = []
    return smoke.main(["--url", api.url, "--wait", wait], log=lines.append), lines


def test_a_stage_that_answers_as_the_contract_says_passes(api):
    code, lines = run(api)
    assert code == 0
    assert lines == [f"smoke test of {api.url}: 4/4 checks passed"]


def test_api_gateways_own_401_body_is_accepted(api):
    api.serve("/orders", (401, {"message": "Unauthorized"}))
    assert run(api)[0] == 0


def test_an_empty_catalog_passes(api):
    api.serve("/products", (200, {"items": [], "next_cursor": None}))
    assert run(api)[0] == 0


@pytest.mark.parametrize("path, answer, message", [
    ("/health", (200, {"status": "degraded"}), "GET /health ({url}/health): body {{'status': 'degraded'}}, expected"),
    ("/health", (502, {"message": "Internal server error"}), "GET /health ({url}/health): status 502, expected 200"),
    ("/health?deep=1", (503, {"Code": "ServiceUnavailableError", "Message": "Not ready: user-pool failed"}),
     "GET /health?deep=1 ({url}/health?deep=1): status 503, expected 200: Not ready: user-pool failed"),
    ("/health?deep=1", (200, {"status": "ok"}), "GET /health?deep=1 ({url}/health?deep=1): body {{'status': 'ok'}}"),
    ("/health?deep=1", (200, {"status": "ok", "checks": {"table:orders": "ok"}}),
     "GET /health?deep=1 ({url}/health?deep=1): not every backend is reachable: checks.table:accounts is required"),
    ("/products", (200, {"items": [{k: v for k, v in PRODUCT.items() if k != "sku"}], "next_cursor": None}),
     "GET /products ({url}/products): not the contract's list of products: items[0].sku is required"),
    ("/products", (200, [PRODUCT]), "GET /products ({url}/products): not the contract's list of products: "
                                    "(body) must be an object"),
    ("/orders", (200, {"items": [], "next_cursor": None}), "GET /orders ({url}/orders): status 200, expected 401"),
    ("/orders", (401, "Unauthorized"), "GET /orders ({url}/orders): body 'Unauthorized', expected"),
])
def test_a_wrong_status_or_body_fails_and_says_what_is_wrong(api, path, answer, message):
    api.serve(path, answer)

    code, lines = run(api)

    assert code == 1
    assert lines[0].startswith("FAIL " + message.format(url=api.url))
    assert lines[-1] == f"smoke test of {api.url}: 3/4 checks passed"


def test_no_answer_fails():
    lines: list[str] = []
    assert smoke.main(["--url", "http://127.0.0.1:9", "--wait", "0"], log=lines.append) == 1
    assert lines[0].startswith("FAIL GET /health (http://127.0.0.1:9/health): no answer:")


def test_failing_checks_are_retried_until_they_pass(api, monkeypatch):
    monkeypatch.setattr(smoke, "RETRY_EVERY_SECONDS", 0.01)
    api.serve("/health", (503, {"message": "Service Unavailable"}), (200, {"status": "ok"}))

    code, lines = run(api, wait="5")

    assert code == 0
    assert lines[0].startswith("1 check(s) failing, retrying in 0 s: GET /health")
    assert lines[-1].endswith("4/4 checks passed")


def test_the_url_comes_from_chalices_deployed_state(tmp_path):
    (tmp_path / ".chalice" / "deployed").mkdir(parents=True)
    deployed = {"schema_version": "2.0", "backend": "api", "resources": [
        {"name": "api_handler", "resource_type": "lambda_function", "lambda_arn": "arn:aws:lambda:..."},
        {"name": "rest_api", "resource_type": "rest_api", "rest_api_id": "abc123",
         "rest_api_url": "https://abc123.execute-api.eu-west-1.amazonaws.com/api/"}]}
    (tmp_path / ".chalice" / "deployed" / "dev.json").write_text(json.dumps(deployed))

    assert smoke.api_url("dev", tmp_path) == "https://abc123.execute-api.eu-west-1.amazonaws.com/api/"
    with pytest.raises(SystemExit, match=r"no .chalice/deployed/prod.json: deploy the stage from here"):
        smoke.api_url("prod", tmp_path)
