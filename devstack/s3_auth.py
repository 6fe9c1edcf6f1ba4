"""The emulator's S3 authenticates object requests as S3 does (a fix of the harness, never of the product).

moto stores a PUT to a presigned URL whose key, signature, expiry or signed headers were changed,
and one with no signature at all. S3 refuses each with 403. Here, for every object request that is
not a CORS preflight:

- no `Authorization` header and no query signature: 403 `AccessDenied` (the uploads bucket blocks
  public access, so an anonymous request is never allowed);
- a query-signed (presigned) request: 403 `AccessDenied` "Request has expired" past
  `X-Amz-Date + X-Amz-Expires`, 403 `SignatureDoesNotMatch` unless the signature is the one SigV4
  gives for this method, path, query and the signed headers' values; then the signer's policy must
  allow the request's action on `bucket/key`, as S3 authorizes a presigned request against the
  principal that signed it (devstack/iam.py signs a function's requests with an access key naming it);
- a header-signed request (an SDK call): as moto does; the caller's IAM is checked client-side.

The signature is recomputed with botocore's own SigV4 signer (`S3SigV4QueryAuth`), from the secret
the local stack's credentials share; nothing here implements the cryptography.
"""

from __future__ import annotations

import datetime as dt
import hmac
import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from devstack import iam

PRESIGNED_ACTIONS = {"GET": "s3:GetObject", "HEAD": "s3:GetObject", "PUT": "s3:PutObject",
                     "DELETE": "s3:DeleteObject", "POST": "s3:PutObject"}
_file_checker: iam.Enforcer | None = None


def authenticate_s3_object_requests() -> None:
    from moto.s3.responses import S3Response

    original = S3Response._key_response
    if getattr(original, "fixed_by_storefront", False):
        return

    def _key_response(self: Any, request: Any, full_url: str) -> Any:
        if request.method != "OPTIONS":
            refusal = refusal_of(request.method, full_url, dict(request.headers))
            if refusal is not None:
                code, message = refusal
                return 403, {"Content-Type": "application/xml"}, error_xml(code, message)
        return original(self, request, full_url)

    _key_response.fixed_by_storefront = True  # type: ignore[attr-defined]
    S3Response._key_response = _key_response


def error_xml(code: str, message: str) -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{message}</Message></Error>")


def refusal_of(method: str, url: str, headers: dict[str, str]) -> tuple[str, str] | None:
    """(S3 error code, message) for a request S3 would refuse, or None."""
    lowered = {k.lower(): v for k, v in headers.items()}
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    params = dict(query)
    if "X-Amz-Signature" not in params:
        if "authorization" in lowered:
            return None
        return "AccessDenied", "Access Denied"
    try:
        access_key, date, region, service, _ = params["X-Amz-Credential"].split("/")
        signed_at = dt.datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
        expires = int(params["X-Amz-Expires"])
        signed_headers = params["X-Amz-SignedHeaders"].split(";")
    except (KeyError, ValueError):
        return "AuthorizationQueryParametersError", "Query-string authentication version 4 requires the " \
            "X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires " \
            "parameters."
    if dt.datetime.now(dt.timezone.utc) > signed_at + dt.timedelta(seconds=expires):
        return "AccessDenied", "Request has expired"
    if not hmac.compare_digest(params["X-Amz-Signature"], _signature(
            method, parts, query, lowered, signed_headers, access_key, region, service, expires,
            params["X-Amz-Date"], params.get("X-Amz-Security-Token"))):
        return "SignatureDoesNotMatch", ("The request signature we calculated does not match the signature you "
                                         "provided. Check your key and signing method.")
    function = iam.function_of_access_key(access_key)
    if function is None:
        return None  # signed by the harness or a test, not by one of the app's functions
    bucket, key = _bucket_and_key(parts, lowered.get("host", parts.netloc))
    request = (PRESIGNED_ACTIONS.get(method, f"s3:{method}"), f"arn:aws:s3:::{bucket}/{key}")
    if _checker().check(function, {request}) is not None:
        return "AccessDenied", "Access Denied"
    return None


def _checker() -> iam.Enforcer:
    """The in-process enforcer (tests), or one reading the stack's policy file (moto server)."""
    global _file_checker
    enforcer = iam.enforcer()
    if enforcer is not None:
        return enforcer
    if _file_checker is None:
        _file_checker = iam.Enforcer(iam.Policies(path=Path(os.environ[iam.POLICY_FILE])), _stack_log())
    return _file_checker


def _stack_log() -> Any:
    """Print to the dev stack's output (moto server's own goes to its log file)."""
    from devstack.moto_server import STACK_LOG_FD

    if not os.environ.get(STACK_LOG_FD):
        return print
    stream = os.fdopen(int(os.environ[STACK_LOG_FD]), "w", buffering=1)
    return lambda line: print(line, file=stream, flush=True)


def _signature(method: str, parts: Any, query: list[tuple[str, str]], headers: dict[str, str],
               signed_headers: list[str], access_key: str, region: str, service: str, expires: int,
               amz_date: str, token: str | None) -> str:
    from botocore.auth import S3SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    secret = os.environ.get("AWS_SECRET_ACCESS_KEY", "testing")
    # The path as botocore's S3 client encodes a key (whatever encoding the server handed on).
    path = quote(unquote(parts.path), safe="/~")
    request = AWSRequest(method=method, url=f"{parts.scheme}://{headers.get('host', parts.netloc)}{path}",
                         headers={name: headers.get(name, "") for name in signed_headers if name != "host"},
                         params={k: v for k, v in query if k != "X-Amz-Signature"})
    request.context["timestamp"] = amz_date
    auth = S3SigV4QueryAuth(Credentials(access_key, secret, token), service, region, expires=expires)
    canonical_request = auth.canonical_request(request)
    return auth.signature(auth.string_to_sign(request, canonical_request), request)


def _bucket_and_key(parts: Any, host: str) -> tuple[str, str]:
    path = unquote(parts.path).lstrip("/")
    hostname = host.split(":", 1)[0]
    if ".s3" in hostname and not hostname.startswith("s3"):  # virtual-hosted style
        return hostname.split(".s3", 1)[0], path
    bucket, _, key = path.partition("/")
    return bucket, key
