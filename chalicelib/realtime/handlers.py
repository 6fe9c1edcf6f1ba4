"""The WebSocket API's three handlers (their bodies; app.py wires them, see there why) and the pusher,
the consumer of the realtime queue.

On AWS each of these is its own Lambda function with its own copy of `app.websocket_api`: Chalice
configures it from the event for the WebSocket handlers, and the pusher, which gets SQS events,
configures it from the stage's settings on every invocation (`configure_management_api`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
from chalice import Blueprint, Response, WebsocketDisconnectedError
from chalice.app import SQSEvent, WebsocketAPI, WebsocketEvent

from chalicelib import lazy
from chalicelib.events.handlers import BatchResponse, consume_sqs_batch
from chalicelib.events.subscriptions import REALTIME
from chalicelib.settings import get_settings, resource_name, websocket_api

if TYPE_CHECKING:
    from chalicelib.realtime import connections, pusher
else:  # imported by the first call that uses it, not by every function's cold start (chalicelib/lazy.py)
    connections = lazy.module("chalicelib.realtime.connections")
    pusher = lazy.module("chalicelib.realtime.pusher")


bp = Blueprint(__name__)


def connect(event: WebsocketEvent) -> Response:
    """`$connect`: a valid id token in `?token=` opens the connection; anything else refuses the handshake."""
    query = event.to_dict().get("queryStringParameters") or {}
    try:
        connections.open_connection(event.connection_id, query.get("token"))
    except connections.Refused as refused:
        return Response(status_code=refused.status, body={"message": refused.message})
    return Response(status_code=200, body="")


def message(event: WebsocketEvent, api: WebsocketAPI) -> None:
    """`$default`: every client message gets one reply frame (`pong`, or an error). A client gone
    before its reply is left to its own `$disconnect`."""
    try:
        api.send(event.connection_id, connections.reply_to(event.to_dict().get("body")))
    except WebsocketDisconnectedError:
        pass


def disconnect(event: WebsocketEvent) -> None:
    connections.close_connection(event.connection_id)


def management_session() -> boto3.session.Session:
    """The session `app.websocket_api` makes its management API client from, in the stage's region: made
    on first use (a botocore session is ~130 event handlers registered, a cold start cost only the
    functions that post to connections need; chalicelib/lazy.py)."""
    return lazy.OnFirstUse(lambda: boto3.session.Session(region_name=get_settings().region))  # type: ignore[return-value]


def configure_management_api(api: WebsocketAPI) -> None:
    """Point `api` at the stage's WebSocket API (idempotent: Chalice keeps the first endpoint)."""
    if api.session is None:
        api.session = management_session()
    api_id, stage = websocket_api()
    if not api_id:
        raise RuntimeError("STOREFRONT_WEBSOCKET_API_ID is not set: the pusher cannot reach any connection")
    api.configure_from_api_id(api_id, stage)


@bp.on_sqs_message(queue=resource_name(REALTIME.queue), batch_size=10)
def push_updates(event: SQSEvent) -> BatchResponse:
    api = bp.current_app.websocket_api
    configure_management_api(api)

    def send(connection_id: str, text: str) -> None:
        try:
            api.send(connection_id, text)
        except WebsocketDisconnectedError:
            raise pusher.ConnectionGone(connection_id) from None

    return consume_sqs_batch(event, pusher.dispatch(send))
