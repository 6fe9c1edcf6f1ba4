"""API Gateway's WebSocket event shapes (Lambda proxy integration), for the local gateway and tests.

The fields are those API Gateway sends to a `$connect`, `$default` and `$disconnect` integration
(the event carries the route key, the connection id, the API id, stage and domain name in
`requestContext`; query string and headers only on `$connect`), so Chalice's `WebsocketEvent` reads
them exactly as on AWS.
"""

from __future__ import annotations

import base64
import datetime
import os
import time
import uuid
from typing import Any
from urllib.parse import parse_qs


def new_connection_id() -> str:
    """A connection id shaped like API Gateway's: 12 random bytes in base64, so it ends with `=`."""
    return base64.b64encode(os.urandom(11)).decode()


def domain_name(api_id: str, region: str) -> str:
    return f"{api_id}.execute-api.{region}.amazonaws.com"


def _request_context(route_key: str, event_type: str, connection_id: str, api_id: str, stage: str, region: str,
                     connected_at_ms: int, source_ip: str, user_agent: str) -> dict[str, Any]:
    now = time.time()
    return {
        "routeKey": route_key, "eventType": event_type, "messageDirection": "IN",
        "extendedRequestId": uuid.uuid4().hex[:16], "requestId": uuid.uuid4().hex[:16],
        "requestTime": datetime.datetime.fromtimestamp(now, datetime.UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "requestTimeEpoch": int(now * 1000), "stage": stage, "connectedAt": connected_at_ms,
        "identity": {"sourceIp": source_ip, "userAgent": user_agent},
        "domainName": domain_name(api_id, region), "connectionId": connection_id, "apiId": api_id,
    }


def connect_event(connection_id: str, path: str, headers: dict[str, str], *, api_id: str, stage: str, region: str,
                  connected_at_ms: int, source_ip: str) -> dict[str, Any]:
    """`$connect`: the handshake's headers and query string (None when there is none, as on AWS)."""
    query = parse_qs(path.partition("?")[2], keep_blank_values=True)
    context = _request_context("$connect", "CONNECT", connection_id, api_id, stage, region, connected_at_ms,
                               source_ip, headers.get("User-Agent", ""))
    return {
        "headers": dict(headers), "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "requestContext": context, "isBase64Encoded": False,
    }


def message_event(connection_id: str, body: str | bytes, *, api_id: str, stage: str, region: str,
                  connected_at_ms: int, source_ip: str, user_agent: str) -> dict[str, Any]:
    """`$default`: a text frame as `body`; a binary frame base64-encoded with `isBase64Encoded`."""
    context = _request_context("$default", "MESSAGE", connection_id, api_id, stage, region, connected_at_ms,
                               source_ip, user_agent)
    context["messageId"] = uuid.uuid4().hex[:16]
    binary = isinstance(body, bytes)
    return {"requestContext": context, "body": base64.b64encode(body).decode() if binary else body,
            "isBase64Encoded": binary}


def disconnect_event(connection_id: str, *, api_id: str, stage: str, region: str, connected_at_ms: int,
                     source_ip: str, user_agent: str, status_code: int, reason: str) -> dict[str, Any]:
    context = _request_context("$disconnect", "DISCONNECT", connection_id, api_id, stage, region,
                               connected_at_ms, source_ip, user_agent)
    context.update(disconnectStatusCode=status_code, disconnectReason=reason)
    return {"headers": {"Host": domain_name(api_id, region)}, "requestContext": context, "isBase64Encoded": False}
