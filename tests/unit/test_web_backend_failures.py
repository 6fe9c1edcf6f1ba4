"""web.route when a backend fails: an unreachable or failing AWS dependency is a 503 in the error shape
within seconds, never a 500 (what the fuzzer and the fault-injection tests found; docs/performance.md)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from chalice import Chalice
from chalice.test import Client
from pynamodb.exceptions import GetError

from chalicelib import aws, dynamo, web

app = Chalice(app_name="regressions-under-test")
FAILURES: dict[str, BaseException] = {}


@web.route(app, "/fails/{kind}", "GET", summary="raises the failure registered under kind")
def fails(call: web.Call, kind: str) -> dict:
    raise FAILURES[kind]


def _client_error(code: str, operation: str = "GetItem") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "Requested resource not found"}}, operation)


def _pynamodb_error(cause: Exception) -> GetError:
    try:
        raise cause
    except Exception as exc:  # raised the way PynamoDB raises it: inside the handler of its cause
        try:
            raise GetError("Failed to get item", exc) from exc
        except GetError as wrapped:
            return wrapped


@pytest.fixture
def client():
    with Client(app) as c:
        yield c


@pytest.mark.parametrize("code", ["ResourceNotFoundException", "ProvisionedThroughputExceededException",
                                  "ThrottlingException", "NoSuchBucket"])
def test_a_backend_missing_its_resources_is_a_503_not_a_500(client, code):
    """Found by tests/e2e/test_faults.py: after a moto restart every table and the user pool are gone,
    and every route answered 500 InternalServerError instead of the contract's 503."""
    FAILURES["missing"] = _pynamodb_error(_client_error(code))
    response = client.http.get("/fails/missing")
    assert response.status_code == 503
    assert response.json_body["Code"] == "ServiceUnavailableError"
    assert response.headers["Retry-After"] == "1"


@pytest.mark.parametrize("code, status", [("500", 500), ("InternalErrorException", 500), ("502", 502),
                                          ("ServiceUnavailableException", 503), ("UnknownError", 504)])
def test_any_backend_5xx_is_a_503_in_the_error_shape(client, code, status):
    """Issue 14, item 9: POST /auth/refresh for a deleted user made the emulator answer an HTML 500
    (botocore parses it as a ClientError with Code "500"), and the API answered 500 too."""
    FAILURES["5xx"] = ClientError({"Error": {"Code": code, "Message": "<html>Internal Server Error</html>"},
                                   "ResponseMetadata": {"HTTPStatusCode": status}}, "InitiateAuth")
    response = client.http.get("/fails/5xx")
    assert response.status_code == 503
    assert response.json_body == {"Code": "ServiceUnavailableError",
                                  "Message": "A backing service is unavailable; retry shortly"}
    FAILURES["5xx"] = _pynamodb_error(FAILURES["5xx"])
    assert client.http.get("/fails/5xx").status_code == 503


def test_a_read_timeout_is_a_503(client):
    FAILURES["timeout"] = _pynamodb_error(ReadTimeoutError(endpoint_url="http://127.0.0.1:1/"))
    assert client.http.get("/fails/timeout").status_code == 503


def test_a_client_error_that_is_our_bug_stays_a_500(client):
    """Only the backend's unavailability becomes a 503: a malformed request to AWS is a bug to see."""
    FAILURES["bug"] = _pynamodb_error(_client_error("ValidationException"))
    assert client.http.get("/fails/bug").status_code == 500


def test_a_hung_backend_becomes_a_503_within_seconds():
    """Found by tests/e2e/test_faults.py: with moto stopped (SIGSTOP) a request hung for over a minute,
    because PynamoDB's defaults are connect 15 s, read 30 s and 1 + 3 attempts (and boto3's were 3 x 10 s).
    API Gateway gives up at 29 s with its own body, so the contract's 503 never arrived."""
    from chalicelib.catalog.models import Product

    meta = Product.Meta
    pynamodb_worst = (1 + meta.max_retry_attempts) * (meta.connect_timeout_seconds + meta.read_timeout_seconds)
    boto3_worst = aws.MAX_ATTEMPTS * (aws._CONFIG.connect_timeout + aws._CONFIG.read_timeout)  # botocore rewrites
    assert (aws._CONFIG.connect_timeout, aws._CONFIG.read_timeout) == (aws.CONNECT_TIMEOUT_S, aws.READ_TIMEOUT_S)
    assert pynamodb_worst <= 10 and boto3_worst <= 10
    connection = dynamo._connection()
    assert connection._read_timeout_seconds == meta.read_timeout_seconds
    assert connection._connect_timeout_seconds == meta.connect_timeout_seconds


def test_every_route_documents_the_503_it_can_answer():
    """Found while fuzzing: web.route answers 503 on any route, but no route documented it, so a 503
    during an outage was an undocumented status code."""
    from app import app as storefront
    from chalicelib.openapi import build_document

    document = build_document(storefront)
    missing = [f"{method.upper()} {path}" for path, methods in document["paths"].items()
               for method, operation in methods.items() if "503" not in operation["responses"]]
    assert missing == []
