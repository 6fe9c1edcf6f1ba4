"""The dev stack's stand-in for API Gateway's WebSocket API (`chalice local` serves no WebSockets).

- WebSocket side (`ws://127.0.0.1:<STOREFRONT_WS_PORT>`, default 8002): the `websockets` server, on an
  asyncio loop in its own thread. Each handshake becomes a `$connect` event; a non-2xx answer from the
  handler refuses it with that status and body, as API Gateway does. Each frame becomes a `$default`
  event and a close a `$disconnect` event. The handlers are the app's own (found in its registry,
  `app.websocket_handlers`), called like Lambda calls them, in a thread pool: never on the loop.
- Management side (`http://127.0.0.1:<port>/<stage>/@connections/<id>`, a port of its own, printed
  at start): POST sends a frame, GET describes the connection, DELETE closes it; an id the gateway
  does not hold is 410 GoneException, as on AWS (moto's own management API never answers that).
- `route_management_api` points a boto3 session's `apigatewaymanagementapi` calls for this API id
  at the management side, so `app.websocket_api.send()` works unchanged: Chalice builds the AWS
  endpoint `https://<api id>.execute-api.<region>.amazonaws.com/<stage>` and passes it explicitly,
  so only a hook on the session can redirect it (AWS_ENDPOINT_URL_* is ignored).

Written here because no library emulates API Gateway's WebSocket API: moto's is a stub of the
management calls only.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from chalice.app import Chalice
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from devstack import iam, lambda_events, metering, websocket_events

MAX_FRAME_BYTES = 128 * 1024  # API Gateway: a message (and a PostToConnection body) is at most 128 KiB
SEND_TIMEOUT_SECONDS = 5
HANDLER_THREADS = 8
# Chalice names the WebSocket functions after their route (chalice/deploy/appgraph.py).
FUNCTION_NAMES = {"$connect": "websocket_connect", "$default": "websocket_message",
                  "$disconnect": "websocket_disconnect"}


@dataclass
class _Open:
    socket: ServerConnection
    connected_at: float
    source_ip: str
    user_agent: str
    last_active_at: float


class WebSocketGateway:
    """Serves the app's WebSocket handlers on `port` and the management API on a free port."""

    def __init__(self, app: Chalice, *, port: int, api_id: str, stage: str, region: str,
                 log: Callable[[str], None] = print) -> None:
        self._app, self._port, self._api_id, self._stage, self._region, self._log = \
            app, port, api_id, stage, region, log
        self._open: dict[str, _Open] = {}
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(HANDLER_THREADS, thread_name_prefix="websocket-handler")
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._serve, name="websocket-gateway", daemon=True)
        self._management = ThreadingHTTPServer(("127.0.0.1", 0), _management_handler(self))
        self._management.daemon_threads = True
        self._management_thread = threading.Thread(target=self._management.serve_forever,
                                                   name="websocket-management", daemon=True)
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._port}"

    @property
    def management_url(self) -> str:
        return f"http://127.0.0.1:{self._management.server_address[1]}"

    def __enter__(self) -> WebSocketGateway:
        self._management_thread.start()
        self._thread.start()
        self._started.wait(10)
        if self._error is not None:
            raise RuntimeError(f"WebSocket gateway could not listen on {self.url}: {self._error}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)
        self._management.shutdown()
        self._management.server_close()
        self._executor.shutdown(wait=False, cancel_futures=True)

    # --- the WebSocket side (runs on the gateway's loop) ---

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        except BaseException as exc:  # reported by __enter__
            self._error = exc
            self._started.set()
        finally:
            self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with serve(self._session, "127.0.0.1", self._port, process_request=self._handshake,
                         max_size=MAX_FRAME_BYTES, ping_interval=None):
            self._started.set()
            await self._stop.wait()

    async def _handshake(self, socket: ServerConnection, request: Request) -> Response | None:
        connection_id = websocket_events.new_connection_id()
        socket.storefront_connection_id = connection_id  # type: ignore[attr-defined]
        socket.storefront_connected_at = time.time()  # type: ignore[attr-defined]
        headers = {name: value for name, value in request.headers.raw_items()}
        event = websocket_events.connect_event(
            connection_id, request.path, headers, api_id=self._api_id, stage=self._stage, region=self._region,
            connected_at_ms=int(socket.storefront_connected_at * 1000),  # type: ignore[attr-defined]
            source_ip=_peer(socket))
        answer = await self._invoke("$connect", event)
        status = int(answer.get("statusCode", 200)) if isinstance(answer, dict) else 500
        if 200 <= status < 300:
            return None
        body = answer.get("body") if isinstance(answer, dict) else None
        return socket.respond(status, body if isinstance(body, str) and body else '{"message": "Forbidden"}\n')

    async def _session(self, socket: ServerConnection) -> None:
        connection_id: str = socket.storefront_connection_id  # type: ignore[attr-defined]
        connected_at: float = socket.storefront_connected_at  # type: ignore[attr-defined]
        user_agent = socket.request.headers.get("User-Agent", "") if socket.request else ""
        opened = _Open(socket, connected_at, _peer(socket), user_agent, time.time())
        with self._lock:
            self._open[connection_id] = opened
        common = {"api_id": self._api_id, "stage": self._stage, "region": self._region,
                  "connected_at_ms": int(connected_at * 1000), "source_ip": opened.source_ip,
                  "user_agent": user_agent}
        try:
            async for frame in socket:
                opened.last_active_at = time.time()
                await self._invoke("$default", websocket_events.message_event(connection_id, frame, **common))
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                self._open.pop(connection_id, None)
            code = socket.close_code if socket.close_code is not None else 1006
            await self._invoke("$disconnect", websocket_events.disconnect_event(
                connection_id, status_code=code, reason=socket.close_reason or "", **common))

    async def _invoke(self, route: str, event: dict[str, Any]) -> Any:
        """Run the route's handler in the thread pool, never on the loop; an error answers 500."""
        config = self._app.websocket_handlers.get(route)
        if config is None:
            return {"statusCode": 200}
        function_name = f"{self._app.app_name}-{self._stage}-{FUNCTION_NAMES[route]}"
        context = lambda_events.lambda_context(function_name, self._region)
        started = time.monotonic()
        try:
            answer = await self._loop.run_in_executor(self._executor, self._run_as_function, config.name,
                                                      event, context)
            summary = f"status={answer.get('statusCode') if isinstance(answer, dict) else '?'}"
        except Exception as exc:  # a handler error must never kill the gateway
            answer, summary = {"statusCode": 500}, f"error {type(exc).__name__}: {exc}"
        self._log(f"websocket {route} {FUNCTION_NAMES[route]} {summary} {(time.monotonic() - started) * 1000:.0f}ms")
        return answer

    def _run_as_function(self, name: str, event: dict[str, Any], context: Any) -> Any:
        """The handler, its AWS calls checked against its own role's policy (devstack/iam.py)."""
        started = time.monotonic()
        try:
            with iam.running_as(name):
                return self._app.handler_map[name](event, context)
        finally:
            if metering.enabled():
                metering.write({"kind": "invocation", "function": name, "source": "websocket",
                                "ms": (time.monotonic() - started) * 1000})

    # --- the management side (runs on the management server's threads) ---

    def find(self, connection_id: str) -> _Open | None:
        with self._lock:
            return self._open.get(connection_id)

    def post(self, connection_id: str, data: bytes) -> bool:
        opened = self.find(connection_id)
        if opened is None:
            return False
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        future = asyncio.run_coroutine_threadsafe(opened.socket.send(data if text is None else text), self._loop)
        try:
            future.result(SEND_TIMEOUT_SECONDS)
        except ConnectionClosed:
            return False
        return True

    def close(self, connection_id: str) -> bool:
        opened = self.find(connection_id)
        if opened is None:
            return False
        asyncio.run_coroutine_threadsafe(opened.socket.close(1000, "closed by the server"), self._loop).result(
            SEND_TIMEOUT_SECONDS)
        return True


def _peer(socket: ServerConnection) -> str:
    address = socket.remote_address
    return str(address[0]) if address else "127.0.0.1"


def _iso(moment: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(moment)) + f".{int(moment % 1 * 1000):03d}Z"


def _management_handler(gateway: WebSocketGateway) -> type[BaseHTTPRequestHandler]:
    class Management(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet: the gateway logs its own lines
            pass

        def _connection_id(self) -> str | None:
            parts = urlsplit(self.path).path.split("/")
            if len(parts) != 4 or parts[0] or parts[1] != gateway._stage or parts[2] != "@connections" \
                    or not parts[3]:
                self._answer(403, {"message": "Forbidden"}, "ForbiddenException")
                return None
            return unquote(parts[3])

        def _answer(self, status: int, body: dict[str, Any] | None = None, error_type: str | None = None) -> None:
            payload = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            if error_type:
                self.send_header("x-amzn-ErrorType", error_type)
            self.end_headers()
            self.wfile.write(payload)

        def _gone(self) -> None:
            self._answer(410, {"message": None}, "GoneException")

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            connection_id = self._connection_id()
            if connection_id is None:
                return
            data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if len(data) > MAX_FRAME_BYTES:
                self._answer(413, {"message": "Message too long"}, "PayloadTooLargeException")
            elif gateway.post(connection_id, data):
                self._answer(200)
            else:
                self._gone()

        def do_GET(self) -> None:  # noqa: N802
            connection_id = self._connection_id()
            if connection_id is None:
                return
            opened = gateway.find(connection_id)
            if opened is None:
                self._gone()
                return
            self._answer(200, {"connectedAt": _iso(opened.connected_at), "lastActiveAt": _iso(opened.last_active_at),
                               "identity": {"sourceIp": opened.source_ip, "userAgent": opened.user_agent}})

        def do_DELETE(self) -> None:  # noqa: N802
            connection_id = self._connection_id()
            if connection_id is None:
                return
            if gateway.close(connection_id):
                self._answer(204)
            else:
                self._gone()

    return Management


def route_management_api(session: Any, api_id: str, region: str, management_url: str) -> None:
    """Send `session`'s apigatewaymanagementapi requests for `api_id` to the local gateway instead of AWS."""
    aws_host = websocket_events.domain_name(api_id, region)
    local = urlsplit(management_url)

    def redirect(request: Any, **_: Any) -> None:
        url = urlsplit(request.url)
        if url.hostname == aws_host:
            request.url = urlunsplit((local.scheme, local.netloc, url.path, url.query, ""))

    session.events.register("before-send.apigatewaymanagementapi", redirect)
