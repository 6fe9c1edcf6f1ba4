"""The HTTP edge: one decorator turns a plain function into a documented, validated route.

`route()` registers a Chalice route and wraps the function so that it
- binds the request's correlation id (header `X-Correlation-Id`, else API Gateway's request id),
- refuses bodies over 256 KiB, malformed JSON, and bodies or query strings that break the schema,
- passes a `Call` (validated body and query, the caller, headers) plus the path parameters,
- turns the domain errors of `chalicelib.errors` (and an unreachable backend) into the contract's
  error shape, and
- records what it accepts and returns, from which `openapi.py` writes the OpenAPI document.
Handlers stay a few lines: parse nothing, call a service function, return a dict.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from typing import Any

import msgspec
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError
from chalice import Blueprint, Chalice, CORSConfig, Response

from chalicelib import observability, pagination, settings, untrusted_json
from chalicelib.accounts import tokens
from chalicelib.accounts.authorizer import ANONYMOUS, KEYS_UNAVAILABLE, jwt_authorizer
from chalicelib.accounts.tokens import CLOCK_SKEW_SECONDS
from chalicelib.errors import DomainError, Forbidden, InvalidInput, ServiceUnavailable, Unauthorized
from chalicelib.schema import Arr, Field, Int, Obj, Str

MAX_BODY_BYTES = 256 * 1024
JSON_HEADERS = {"Content-Type": "application/json"}
# What a route function returns: a JSON object (a dict, or a TypedDict such as pagination.Page).
JsonObject = Mapping[str, Any]

LIMIT = Int(minimum=1, maximum=pagination.MAX_PAGE_SIZE,
            description=f"Page size, 1..{pagination.MAX_PAGE_SIZE} (default {pagination.DEFAULT_PAGE_SIZE}).")
CURSOR = Str(min_len=1, max_len=2048, description="Opaque cursor from a previous page's next_cursor.")
PAGE_QUERY: dict[str, Field] = {"limit": LIMIT, "cursor": CURSOR}


def page_schema(item: Field) -> Obj:
    """The response schema of a list page of `item`s (pagination.Page): at most LIMIT's maximum items,
    and the cursor of the next page, as long as the query's `cursor` accepts, or null at the end."""
    return Obj({
        "items": Arr(item, max_items=pagination.MAX_PAGE_SIZE),
        "next_cursor": Str(max_len=CURSOR.max_len, nullable=True,
                           description="Pass as ?cursor= for the next page; null at the end"),
    }, required=("items", "next_cursor"))


def cors_config(origin: str | None) -> CORSConfig | None:
    """CORS for the web app's one origin (see `settings.web_origin`); None turns CORS off."""
    if not origin:
        return None
    return CORSConfig(allow_origin=origin, max_age=600, expose_headers=["X-Correlation-Id"],
                      allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Correlation-Id"])


# Fixed when the app is imported: Chalice writes CORS into the API definition (and `chalice local`
# answers preflight requests from it).
CORS = cors_config(settings.web_origin())


class Caller(msgspec.Struct, frozen=True):
    """Who is calling, from the verified id token (see accounts' authorizer)."""

    user_id: str
    email: str
    is_admin: bool


class Call(msgspec.Struct, frozen=True):
    body: dict[str, Any] | None = None
    query: dict[str, Any] = msgspec.field(default_factory=dict)
    caller: Caller | None = None
    headers: Mapping[str, str] = msgspec.field(default_factory=dict)

    @property
    def payload(self) -> dict[str, Any]:
        """The validated body of a route declared with `body=` (and without `optional_body`)."""
        assert self.body is not None, "route declared without a body"
        return self.body

    @property
    def user(self) -> Caller:
        assert self.caller is not None, "route declared without auth"
        return self.caller


class RouteDoc(msgspec.Struct, frozen=True):
    """What a route accepts and returns: the source of its OpenAPI entry."""

    summary: str
    status: int
    body: Obj | None
    query: Mapping[str, Field]
    response: Field | None
    errors: tuple[int, ...]
    auth: str | None
    tags: tuple[str, ...]
    headers: Mapping[str, Field]
    optional_body: bool = False  # no body at all is allowed (the body's fields are all optional)
    # Checks the raw request before its body is parsed (a webhook's signature): raises a DomainError.
    verify: Callable[[Mapping[str, str], bytes], None] | None = None


def error_response(error: DomainError) -> Response:
    body: dict[str, Any] = {"Code": error.code, "Message": error.message}
    if error.errors:
        body["Errors"] = error.errors
    headers: dict[str, str | list[str]] = dict(JSON_HEADERS)
    if error.status in (429, 503):
        headers["Retry-After"] = "1"
    return Response(body=body, status_code=error.status, headers=headers)


def parse_json_body(raw: bytes | None) -> Any:
    if not raw:
        raise InvalidInput("Request body is required (a JSON object)")
    if len(raw) > MAX_BODY_BYTES:
        raise InvalidInput(f"Request body is larger than {MAX_BODY_BYTES // 1024} KiB")
    try:
        return untrusted_json.loads(raw)
    except ValueError as exc:  # InvalidJSON (bounded depth and numbers) and UnicodeDecodeError
        raise InvalidInput(f"Request body is not valid JSON: {exc}") from None


def parse_query(spec: Mapping[str, Field], params: Mapping[str, str] | None) -> dict[str, Any]:
    """Validate query-string parameters; integers arrive as text and are converted first."""
    params = dict(params or {})
    unknown = sorted(set(params) - set(spec))
    if unknown:
        raise InvalidInput(f"Unknown query parameter: {unknown[0]}",
                           errors=[{"field": name, "message": "is not a known query parameter"}
                                   for name in unknown])
    typed: dict[str, Any] = {}
    for name, value in params.items():
        if isinstance(spec[name], Int):
            try:
                typed[name] = int(value)
            except ValueError:
                typed[name] = value  # the schema reports it as "must be an integer"
        else:
            typed[name] = value
    return Obj(spec).validate(typed)


def _check_headers(spec: Mapping[str, Field], headers: Mapping[str, str]) -> None:
    present = {name: headers.get(name.lower()) for name in spec if headers.get(name.lower()) is not None}
    Obj(spec).validate(present)


def _caller_from(request: Any) -> Caller:
    """The caller the authorizer verified, or Unauthorized (the authorizer never rejects by itself)."""
    claims = (request.context or {}).get("authorizer") or {}
    if str(claims.get(KEYS_UNAVAILABLE, "")).lower() == "true":
        return _caller_verified_here(request)
    principal = claims.get("principalId")
    if not principal or principal == ANONYMOUS or claims.get("token_error"):
        raise Unauthorized("A valid bearer token is required: Authorization: Bearer <id_token>")
    if float(claims.get("expires_at", 0)) + CLOCK_SKEW_SECONDS < time.time():
        raise Unauthorized("The token has expired; log in or refresh it")
    return Caller(user_id=principal, email=str(claims.get("email", "")),
                  is_admin=str(claims.get("is_admin", "")).lower() == "true")


def _caller_verified_here(request: Any) -> Caller:
    """The caller of a token the authorizer could not check for want of signing keys (a verdict API
    Gateway may have cached for minutes): checked now, a 503 while the keys are still unreachable."""
    scheme, _, token = ((request.headers or {}).get("authorization") or "").partition(" ")
    try:
        verified = tokens.verify_id_token(token.strip())
    except tokens.KeysUnavailable:
        raise ServiceUnavailable("The user pool's signing keys cannot be fetched; retry shortly") from None
    except tokens.InvalidToken:
        raise Unauthorized("A valid bearer token is required: Authorization: Bearer <id_token>") from None
    return Caller(user_id=verified.user_id, email=verified.email, is_admin=verified.is_admin)


def _call_for(request: Any, doc: RouteDoc) -> Call:
    """Who is calling and what they sent, checked in that order: 401/403 before any 400."""
    caller = _caller_from(request) if doc.auth else None
    if doc.auth == "admin" and not (caller and caller.is_admin):
        raise Forbidden("This action needs the admin role")
    headers = request.headers or {}
    if doc.verify is not None:
        doc.verify(headers, request.raw_body or b"")
    _check_headers(doc.headers, headers)
    body = None
    if doc.body is not None and not (doc.optional_body and not request.raw_body):
        body = doc.body.validate(parse_json_body(request.raw_body))
    return Call(body=body,
                query=parse_query(doc.query, request.query_params), caller=caller, headers=headers)


# AWS error codes that mean the backend, not the request, is at fault: a resource that is not there
# (moto restarted empty, a stack half deployed) or a service refusing load. Each is a 503, never a 500.
BACKEND_UNAVAILABLE_CODES = frozenset({
    "ResourceNotFoundException", "NoSuchBucket", "AWS.SimpleQueueService.NonExistentQueue",
    "ProvisionedThroughputExceededException", "RequestLimitExceeded", "ThrottlingException",
    "InternalServerError", "ServiceUnavailable",
})


def _status_of(error: ClientError) -> int:
    """The HTTP status the backend answered with (an HTML 500 parses as a ClientError with only this)."""
    try:
        return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    except (TypeError, ValueError):
        return 0


def _is_connection_failure(error: BaseException) -> bool:
    """True when `error` (or what caused it) says a backing service is unreachable or unavailable, or
    failed on its side (any 5xx: a bug of the backend is not the caller's, and retrying may work)."""
    exc: BaseException | None = error
    while exc is not None:
        if isinstance(exc, BotocoreConnectionError | HTTPClientError):
            return True
        if isinstance(exc, ClientError) and (exc.response.get("Error", {}).get("Code") in BACKEND_UNAVAILABLE_CODES
                                             or _status_of(exc) >= 500):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def route(bp: Blueprint | Chalice, path: str, method: str, *, summary: str, status: int = 200,
          body: Obj | None = None, query: Mapping[str, Field] | None = None,
          response: Field | None = None, errors: tuple[int, ...] = (), auth: str | None = None,
          headers: Mapping[str, Field] | None = None, tags: tuple[str, ...] = (), optional_body: bool = False,
          verify: Callable[[Mapping[str, str], bytes], None] | None = None,
          ) -> Callable[[Callable[..., Any]], Callable[..., Response]]:
    """Register `fn(call, **path_params) -> dict | None` as a documented route on `bp`.

    `auth` is None (anyone), "user" or "admin"; both need a valid bearer token, checked by the
    accounts authorizer before the function runs ("admin" also needs the `admin` group).
    `optional_body` lets a request without a body through (`call.body` None); `verify(headers,
    raw_body)` runs before the headers and body are checked (a signature over the raw bytes).
    """
    doc = RouteDoc(summary=summary, status=status, body=body, query=dict(query or {}), response=response,
                   errors=tuple(sorted(set(errors) | ({400} if body or query or headers else set()))),
                   auth=auth, tags=tags, headers=dict(headers or {}), optional_body=optional_body,
                   verify=verify)
    if auth not in (None, "user", "admin"):
        raise ValueError(f"auth must be None, 'user' or 'admin', not {auth!r}")
    route_kwargs: dict[str, Any] = {"methods": [method]}
    if auth:
        route_kwargs["authorizer"] = jwt_authorizer
    if CORS is not None:
        route_kwargs["cors"] = CORS

    def decorate(fn: Callable[..., Any]) -> Callable[..., Response]:
        @functools.wraps(fn)
        def view(**path_params: str) -> Response:
            request = bp.current_request
            assert request is not None, "Chalice sets current_request before calling a view"
            context: dict[str, Any] = request.context or {}
            observability.bind_correlation_id(
                (request.headers.get("x-correlation-id") if request.headers else None) or context.get("requestId"))
            try:
                result = fn(_call_for(request, doc), **path_params)
            except DomainError as exc:
                return _with_correlation(error_response(exc))
            except Exception as exc:
                if not _is_connection_failure(exc):
                    raise
                observability.logger.exception("backing service unreachable")
                return _with_correlation(error_response(
                    ServiceUnavailable("A backing service is unavailable; retry shortly")))
            if isinstance(result, Response):  # a route that chooses its status itself (e.g. an idempotent replay)
                return _with_correlation(result)
            if status == 204:
                return _with_correlation(Response(body="", status_code=204))
            return _with_correlation(Response(body=result, status_code=status, headers=dict(JSON_HEADERS)))

        view.route_doc = doc  # type: ignore[attr-defined]
        bp.route(path, **route_kwargs)(view)
        return view

    return decorate


def _with_correlation(response: Response) -> Response:
    response.headers["X-Correlation-Id"] = observability.current_correlation_id()
    return response
