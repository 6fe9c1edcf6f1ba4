"""Verifying Cognito id tokens: RS256 signature against the pool's JWKS, expiry, issuer, audience, use.

The RSA check is a few lines of integer arithmetic (PKCS #1 v1.5 with SHA-256), which keeps the
`cryptography` wheel (several MB, native code) out of the deployment package. The JWKS is fetched
once per container and again only when a token names a key id not seen before (rate limited), so
key rotation works and a flood of forged key ids cannot make us hammer Cognito.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

from chalicelib import untrusted_json
from chalicelib.settings import get_settings

ADMIN_GROUP = "admin"
CLOCK_SKEW_SECONDS = 30
JWKS_REFRESH_SECONDS = 60
MAX_TOKEN_BYTES = 8192
# DER prefix of a SHA-256 DigestInfo (RFC 8017, section 9.2, note 1).
_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


class InvalidToken(Exception):
    """The token is not a valid id token of this user pool and app client."""


class KeysUnavailable(Exception):
    """The user pool's signing keys could not be fetched, so no token can be checked right now."""


@dataclass(frozen=True)
class Claims:
    user_id: str
    email: str
    name: str
    groups: tuple[str, ...]
    expires_at: int

    @property
    def is_admin(self) -> bool:
        return ADMIN_GROUP in self.groups


def issuer(region: str, user_pool_id: str) -> str:
    """Cognito's issuer; moto names the same real host in the tokens it signs."""
    return f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"


def jwks_url(region: str, user_pool_id: str) -> str:
    endpoint = os.environ.get("AWS_ENDPOINT_URL")  # the emulator, when one is configured
    base = endpoint.rstrip("/") if endpoint else f"https://cognito-idp.{region}.amazonaws.com"
    return f"{base}/{user_pool_id}/.well-known/jwks.json"


def fetch_jwks(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 (https or the local emulator)
        return json.load(response)


class _KeyCache:
    def __init__(self) -> None:
        self._keys: dict[tuple[str, str], tuple[int, int]] = {}
        self._fetched_at: dict[str, float] = {}
        self._lock = threading.Lock()

    def key(self, url: str, kid: str) -> tuple[int, int]:
        with self._lock:
            if (url, kid) not in self._keys and time.monotonic() - self._fetched_at.get(url, -1e9) > \
                    JWKS_REFRESH_SECONDS:
                self._keys.update({(url, key_id): key for key_id, key in _fetched_keys(url).items()})
                self._fetched_at[url] = time.monotonic()  # only a fetch that worked is rate limited
            try:
                return self._keys[(url, kid)]
            except KeyError:
                raise InvalidToken("unknown signing key") from None

    def clear(self) -> None:
        with self._lock:
            self._keys.clear()
            self._fetched_at.clear()


keys = _KeyCache()


def _fetched_keys(url: str) -> dict[str, tuple[int, int]]:
    """The RSA keys of the JWKS at `url` by key id; KeysUnavailable if it cannot be fetched or read."""
    try:
        jwks = fetch_jwks(url)
        return {jwk["kid"]: (_b64int(jwk["n"]), _b64int(jwk["e"])) for jwk in jwks.get("keys", [])
                if jwk.get("kty") == "RSA" and jwk.get("kid")}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:  # urllib's errors are OSErrors
        raise KeysUnavailable(f"the user pool's signing keys could not be fetched: {exc!r}"[:300]) from None


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _b64int(segment: str) -> int:
    return int.from_bytes(_b64decode(segment), "big")


def rs256_signature_valid(signing_input: bytes, signature: bytes, modulus: int, exponent: int) -> bool:
    size = (modulus.bit_length() + 7) // 8
    if len(signature) != size or int.from_bytes(signature, "big") >= modulus:
        return False
    encoded = pow(int.from_bytes(signature, "big"), exponent, modulus).to_bytes(size, "big")
    digest_info = _SHA256_DIGEST_INFO + hashlib.sha256(signing_input).digest()
    if size < len(digest_info) + 11:
        return False
    expected = b"\x00\x01" + b"\xff" * (size - len(digest_info) - 3) + b"\x00" + digest_info
    return hmac.compare_digest(encoded, expected)


def verify_id_token(token: str, now: float | None = None) -> Claims:
    """The token's claims, or InvalidToken saying (for the logs) what was wrong; KeysUnavailable when
    the signing keys it needs cannot be fetched."""
    settings = get_settings()
    if not settings.user_pool_id or not settings.user_pool_client_id:
        raise InvalidToken("the user pool is not configured")
    if len(token) > MAX_TOKEN_BYTES or token.count(".") != 2:
        raise InvalidToken("not a JWT")
    header_b64, payload_b64, signature_b64 = token.split(".")
    try:
        header = untrusted_json.loads(_b64decode(header_b64))
        payload = untrusted_json.loads(_b64decode(payload_b64))
        signature = _b64decode(signature_b64)
    except (ValueError, UnicodeDecodeError):
        raise InvalidToken("not a JWT") from None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise InvalidToken("not a JWT")
    if header.get("alg") != "RS256" or not isinstance(header.get("kid"), str):
        raise InvalidToken("unsupported algorithm")
    modulus, exponent = keys.key(jwks_url(settings.region, settings.user_pool_id), header["kid"])
    if not rs256_signature_valid(f"{header_b64}.{payload_b64}".encode(), signature, modulus, exponent):
        raise InvalidToken("bad signature")
    return _check_claims(payload, settings.region, settings.user_pool_id, settings.user_pool_client_id,
                         time.time() if now is None else now)


def _check_claims(payload: dict[str, Any], region: str, pool_id: str, client_id: str, now: float) -> Claims:
    if payload.get("iss") != issuer(region, pool_id):
        raise InvalidToken("wrong issuer")
    if payload.get("aud") != client_id:
        raise InvalidToken("wrong audience")
    if payload.get("token_use") != "id":
        raise InvalidToken("not an id token")
    exp = payload.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool) or exp + CLOCK_SKEW_SECONDS < now:
        raise InvalidToken("expired")
    sub, groups = payload.get("sub"), payload.get("cognito:groups", [])
    if not isinstance(sub, str) or not sub or not isinstance(groups, list):
        raise InvalidToken("malformed claims")
    return Claims(user_id=sub, email=str(payload.get("email", "")), name=str(payload.get("name", "")),
                  groups=tuple(str(g) for g in groups), expires_at=int(exp))
