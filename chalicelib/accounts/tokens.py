"""Verifying Cognito id tokens: RS256 signature against the pool's JWKS, expiry, issuer, audience, use.

The signature and the registered claims are PyJWT's (`jwt.decode`, with `cryptography`), imported
only by the functions that verify tokens and shipped to them in a layer of their own
(deploy/packaging.py). Before PyJWT sees a token, each of its three segments must be strict
base64url (RFC 7515: the URL-safe alphabet, no padding, no trailing bits), which Python's decoder
alone does not enforce, and the header and payload must be bounded JSON (chalicelib/untrusted_json.py).
The JWKS is fetched once per container and again only when a token names a key id not seen before
(rate limited), so key rotation works and a flood of forged key ids cannot make us hammer Cognito.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
import time
import urllib.request
from typing import Any

import msgspec

from chalicelib import untrusted_json
from chalicelib.settings import get_settings

ADMIN_GROUP = "admin"
CLOCK_SKEW_SECONDS = 30
JWKS_REFRESH_SECONDS = 60
MAX_TOKEN_BYTES = 8192
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


class InvalidToken(Exception):
    """The token is not a valid id token of this user pool and app client."""


class KeysUnavailable(Exception):
    """The user pool's signing keys could not be fetched, so no token can be checked right now."""


class Claims(msgspec.Struct, frozen=True):
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
        document: dict[str, Any] = json.load(response)
        return document


class _KeyCache:
    def __init__(self) -> None:
        self._keys: dict[tuple[str, str], Any] = {}
        self._fetched_at: dict[str, float] = {}
        self._lock = threading.Lock()

    def key(self, url: str, kid: str) -> Any:
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


def _fetched_keys(url: str) -> dict[str, Any]:
    """The RSA public keys of the JWKS at `url` by key id; KeysUnavailable if it cannot be fetched or read."""
    import jwt

    try:
        entries = fetch_jwks(url)["keys"]
        if not isinstance(entries, list) or not all(isinstance(jwk, dict) for jwk in entries):
            raise ValueError("not a JWKS")
        return {jwk["kid"]: jwt.PyJWK(jwk, algorithm="RS256").key for jwk in entries
                if jwk.get("kty") == "RSA" and jwk.get("kid")}
    except (OSError, ValueError, KeyError, TypeError, AttributeError, jwt.PyJWKError) as exc:  # urllib: OSError
        raise KeysUnavailable(f"the user pool's signing keys could not be fetched: {exc!r}"[:300]) from None


def _b64decode(segment: str) -> bytes:
    """Strict base64url without padding (RFC 7515 section 2): anything else is not a JWT."""
    if not _BASE64URL.fullmatch(segment) or len(segment) % 4 == 1:
        raise ValueError("not base64url")
    decoded = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    if base64.urlsafe_b64encode(decoded).rstrip(b"=").decode() != segment:  # non-zero trailing bits
        raise ValueError("not canonical base64url")
    return decoded


def verify_id_token(token: str, now: float | None = None) -> Claims:
    """The token's claims, or InvalidToken saying (for the logs) what was wrong; KeysUnavailable when
    the signing keys it needs cannot be fetched."""
    import jwt

    settings = get_settings()
    if not settings.user_pool_id or not settings.user_pool_client_id:
        raise InvalidToken("the user pool is not configured")
    if len(token) > MAX_TOKEN_BYTES or token.count(".") != 2:
        raise InvalidToken("not a JWT")
    header_b64, payload_b64, signature_b64 = token.split(".")
    try:
        header = untrusted_json.loads(_b64decode(header_b64))
        payload = untrusted_json.loads(_b64decode(payload_b64))
        _b64decode(signature_b64)
    except (ValueError, UnicodeDecodeError):
        raise InvalidToken("not a JWT") from None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise InvalidToken("not a JWT")
    if header.get("alg") != "RS256" or not isinstance(header.get("kid"), str):
        raise InvalidToken("unsupported algorithm")
    key = keys.key(jwks_url(settings.region, settings.user_pool_id), header["kid"])
    try:
        # Expiry is checked below with the caller's clock (`now`); PyJWT checks the signature, RS256 only.
        jwt.decode(token, key, algorithms=["RS256"], options={"verify_exp": False, "verify_aud": False,
                                                              "verify_iss": False, "verify_iat": False,
                                                              "verify_nbf": False})
    except jwt.InvalidSignatureError:
        raise InvalidToken("bad signature") from None
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(f"not a valid JWS: {type(exc).__name__}") from None
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
