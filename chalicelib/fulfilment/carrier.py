"""The carrier webhook's signature: HMAC-SHA256 of `<timestamp>.<raw body>` under a shared secret.

The carrier sends `X-Carrier-Timestamp` (Unix seconds) and `X-Carrier-Signature: sha256=<hex>`. A
request is accepted when its timestamp is within 5 minutes of now and its signature is the HMAC
under the secret's current or previous version (Secrets Manager's AWSCURRENT and AWSPREVIOUS
stages), so a rotation never rejects a carrier that has not switched yet (docs/operations.md).
The HMAC is the standard library's (`hmac`, `hashlib`), compared in constant time; no library
offers this scheme as such, and these few lines only arrange the standard primitives.

The secret values are kept for a minute per container; a signature that matches none of them
re-reads the secret (at most every 10 seconds), so a rotation takes effect at once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Callable, Mapping

from botocore.exceptions import ClientError

from chalicelib import aws
from chalicelib.errors import Unauthorized
from chalicelib.observability import logger
from chalicelib.settings import fulfilment_settings

TOLERANCE_SECONDS = 300
TIMESTAMP_HEADER, SIGNATURE_HEADER = "X-Carrier-Timestamp", "X-Carrier-Signature"
CACHE_SECONDS, REFRESH_AT_MOST_EVERY_SECONDS = 60.0, 10.0
_SIGNATURE = re.compile(r"sha256=([0-9a-fA-F]{64})")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_lock = threading.Lock()
_cache: dict[str, object] = {"at": 0.0, "secrets": ()}


def sign(secret: str, timestamp: str, raw_body: bytes) -> str:
    """`sha256=<hex>` for `raw_body` sent at `timestamp` (what the carrier puts in the header)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + raw_body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify(headers: Mapping[str, str], raw_body: bytes, now: Callable[[], float] = time.time) -> None:
    """Unauthorized unless the request is signed with a current or previous secret, within 5 minutes."""
    timestamp = headers.get(TIMESTAMP_HEADER.lower()) or ""
    match = _SIGNATURE.fullmatch(headers.get(SIGNATURE_HEADER.lower()) or "")
    if not _TIMESTAMP.fullmatch(timestamp) or match is None:
        raise Unauthorized(f"{TIMESTAMP_HEADER} (Unix seconds) and {SIGNATURE_HEADER} (sha256=<hex>) are required")
    if abs(now() - int(timestamp)) > TOLERANCE_SECONDS:
        raise Unauthorized(f"{TIMESTAMP_HEADER} is more than {TOLERANCE_SECONDS // 60} minutes off")
    given = f"sha256={match.group(1).lower()}"
    if _matches(_secrets(refresh=False), timestamp, raw_body, given):
        return
    if _matches(_secrets(refresh=True), timestamp, raw_body, given):
        return
    raise Unauthorized(f"{SIGNATURE_HEADER} does not match")


def _matches(secrets: tuple[str, ...], timestamp: str, raw_body: bytes, given: str) -> bool:
    results = [hmac.compare_digest(sign(secret, timestamp, raw_body), given) for secret in secrets]
    return any(results)  # every version is compared: the time taken does not say which matched


def _secrets(refresh: bool) -> tuple[str, ...]:
    with _lock:
        age = time.monotonic() - float(_cache["at"])  # type: ignore[arg-type]
        if _cache["secrets"] and (age < CACHE_SECONDS and not (refresh and age >= REFRESH_AT_MOST_EVERY_SECONDS)):
            return _cache["secrets"]  # type: ignore[return-value]
        secrets = tuple(s for s in (_read("AWSCURRENT"), _read("AWSPREVIOUS")) if s)
        _cache.update(at=time.monotonic(), secrets=secrets)
        return secrets


def forget_secrets() -> None:
    """Drop the kept values (a fresh container; tests that rotate the secret)."""
    with _lock:
        _cache.update(at=0.0, secrets=())


def _read(stage: str) -> str | None:
    try:
        value = aws.client("secretsmanager").get_secret_value(
            SecretId=fulfilment_settings().carrier_secret_arn, VersionStage=stage)["SecretString"]
    except ClientError as exc:
        if stage == "AWSPREVIOUS" and exc.response["Error"]["Code"] == "ResourceNotFoundException":
            return None  # never rotated: there is no previous version
        raise
    try:
        secret = json.loads(value)["secret"]
    except (ValueError, KeyError, TypeError):
        secret = None
    if not isinstance(secret, str) or not secret:
        logger.error("the carrier webhook secret is not {\"secret\": \"...\"}", extra={"version_stage": stage})
        return None
    return secret
