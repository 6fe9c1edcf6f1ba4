"""WebSocket connections: opened with a verified id token, closed, found by user or as admins'.

Knows nothing of Chalice or API Gateway: the handlers pass in the connection id and the token.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import msgspec

from chalicelib.accounts import tokens
from chalicelib.clock import now_iso, utc_now
from chalicelib.observability import logger
from chalicelib.realtime.models import ADMINS_PARTITION, CONNECTION_SK, Connection

# API Gateway closes every WebSocket connection after 2 hours; the TTL clears items whose
# `$disconnect` never arrived, and reads skip expired items the TTL has not removed yet.
CONNECTION_LIFETIME = timedelta(hours=2)
MAX_MESSAGE_BYTES = 32 * 1024  # API Gateway's frame size limit for WebSocket messages
PONG = json.dumps({"type": "pong"})


class Refused(Exception):
    """The handshake is refused with `status` (401: no or a bad token; 503: the keys cannot be fetched)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Recipient(msgspec.Struct, frozen=True):
    connection_id: str
    user_id: str
    is_admin: bool


def open_connection(connection_id: str, token: str | None) -> Recipient:
    """Store the connection of the token's user, or raise Refused (nothing is stored then)."""
    if not token:
        raise Refused(401, "A token is required: connect with ?token=<id_token>")
    try:
        claims = tokens.verify_id_token(token)
    except tokens.InvalidToken as exc:
        logger.info("websocket refused", extra={"reason": str(exc)})
        raise Refused(401, "The token is not valid") from None
    except tokens.KeysUnavailable as exc:  # the user pool's signing keys cannot be fetched
        logger.warning("websocket refused: signing keys unavailable", extra={"error": str(exc)})
        raise Refused(503, "Cannot verify tokens right now; retry shortly") from None
    Connection(
        pk=_pk(connection_id), sk=CONNECTION_SK, connection_id=connection_id, user_id=claims.user_id,
        is_admin=claims.is_admin, connected_at=now_iso(),
        gsi1pk=_user_partition(claims.user_id), gsi1sk=_pk(connection_id),
        gsi2pk=ADMINS_PARTITION if claims.is_admin else None, gsi2sk=_pk(connection_id) if claims.is_admin else None,
        expires_at=utc_now() + CONNECTION_LIFETIME).save()
    logger.info("websocket connected", extra={"connection_id": connection_id, "is_admin": claims.is_admin})
    return Recipient(connection_id, claims.user_id, claims.is_admin)


def close_connection(connection_id: str) -> None:
    """Forget the connection (idempotent: `$disconnect` after a GoneException cleanup is fine)."""
    Connection(pk=_pk(connection_id), sk=CONNECTION_SK).delete()


def reply_to(body: str | None) -> str:
    """The frame answering a client's message: a pong for `{"action": "ping"}`, an error otherwise."""
    if body is None or len(body.encode("utf-8", "surrogatepass")) > MAX_MESSAGE_BYTES:
        return _error("Messages are JSON objects of at most 32 KiB")
    try:
        message: Any = json.loads(body)
    except (ValueError, RecursionError):
        return _error("Messages must be JSON objects")
    if not isinstance(message, dict) or message.get("action") != "ping":
        return _error('Unknown action; the only one is {"action": "ping"}')
    return PONG


def recipients(user_id: str | None, admins: bool) -> list[Recipient]:
    """The live connections of `user_id` (if given) and, if `admins`, of every admin; each once."""
    found: dict[str, Recipient] = {}
    now = time.time()
    if user_id:
        for item in Connection.by_user.query(_user_partition(user_id)):
            if item.expires_at.timestamp() > now:
                found[item.connection_id] = Recipient(item.connection_id, item.user_id, item.is_admin)
    if admins:
        for item in Connection.admins.query(ADMINS_PARTITION):
            if item.expires_at.timestamp() > now:
                found[item.connection_id] = Recipient(item.connection_id, item.user_id, item.is_admin)
    return list(found.values())


def _error(message: str) -> str:
    return json.dumps({"type": "error", "error": {"Code": "BadRequestError", "Message": message}})


def _pk(connection_id: str) -> str:
    return f"CONNECTION#{connection_id}"


def _user_partition(user_id: str) -> str:
    return f"USER#{user_id}"
