"""Serves the single-page app in web/ on 127.0.0.1, as the site's CloudFront distribution does on AWS.

Static files come from web/ as they are (no build step), with the Content-Type the site bucket gives
them; `config.js` is generated so the app knows the API's and the WebSocket endpoint's URLs, what
differs between the dev stack and a deployed stage (where `make deploy` writes the same file into the site bucket, both
from `infra.site.config_script`).

Product media (`/media/products/...`, `/media/thumbnails/...`) come from the uploads bucket, as the
distribution's media origin serves them with its own access to exactly those prefixes; anything else
under `/media/` is refused (403), as S3 refuses a key the origin's bucket policy does not cover. So a
product's `image_url` is a stable URL on the web origin (`STOREFRONT_MEDIA_BASE_URL`), never a
presigned link signed by a function's role.

`/api/*` is forwarded to the API (`/api/products` -> `<API>/products`), method, headers and body as
they came: the web app calls its API on its own origin, as the distribution's `/api/*` behaviour
routes it to the API stage `api` on AWS, so a browser makes no CORS preflight.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from infra.site import CONFIG_SCRIPT, WEB_ROOT, config_script, content_type

API_PATH = "/api"  # the web app's API, on its own origin: forwarded to the API (deployed: CloudFront does)
# Hop-by-hop headers (RFC 9110 section 7.6.1) and the ones this server sets itself are not passed on.
_NOT_FORWARDED = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
                  "host", "content-length", "server", "date"}
MEDIA_PATH = "/media/"
MEDIA_PREFIXES = ("products/", "thumbnails/")
# What reads one object of the uploads bucket: its bytes and Content-Type, or None if there is none.
MediaReader = Callable[[str], "tuple[bytes, str] | None"]


class _Handler(SimpleHTTPRequestHandler):
    config_js: bytes = b""
    read_media: MediaReader | None = None
    api_url: str = ""

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == API_PATH or path.startswith(f"{API_PATH}/"):
            self._forward()
            return
        if path == f"/{CONFIG_SCRIPT}":
            self._send(200, content_type(CONFIG_SCRIPT), self.config_js)
            return
        if path.startswith(MEDIA_PATH):
            self._media(unquote(path[len(MEDIA_PATH):]))
            return
        super().do_GET()

    def do_POST(self) -> None:  # every method but GET reaches only the API
        self._forward()

    do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_POST

    def do_HEAD(self) -> None:
        if self.path.startswith(f"{API_PATH}/"):
            self._forward()
            return
        super().do_HEAD()

    def _forward(self) -> None:
        """`/api/<path>` -> `<api_url>/<path>`, method, headers and body as they came, the answer as it is:
        what the distribution's /api/* behaviour does with the API stage `api` on AWS."""
        path = self.path[len(API_PATH):] or "/"
        if not self.path.startswith(API_PATH) or not path.startswith(("/", "?")):
            self._send(404, "application/json", b'{"message": "Not Found"}')
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _NOT_FORWARDED}
        request = urllib.request.Request(self.api_url + path, data=body, method=self.command, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as reply:  # noqa: S310 (the dev stack's own API)
                status, reply_headers, reply_body = reply.status, reply.headers, reply.read()
        except urllib.error.HTTPError as error:
            status, reply_headers, reply_body = error.code, error.headers, error.read()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            self._send(503, "application/json",
                       b'{"Code": "ServiceUnavailableError", "Message": "The API is not reachable."}')
            return
        self.send_response(status)
        for name, value in reply_headers.items():
            if name.lower() not in _NOT_FORWARDED:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply_body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply_body)

    def _media(self, key: str) -> None:
        found = self.read_media(key) if self.read_media and key.startswith(MEDIA_PREFIXES) else None
        if found is None:  # S3 answers 403 for a key the origin may not read, and for one that does not exist
            self._send(403, "application/xml", b"<Error><Code>AccessDenied</Code></Error>")
            return
        body, media_type = found
        self._send(200, media_type, body)

    def guess_type(self, path: str | Path) -> str:
        return content_type(str(path))  # the Content-Type the site bucket gives the same file

    def end_headers(self) -> None:
        # The same security headers CloudFront adds in front of the site bucket.
        if not self.path.startswith((MEDIA_PATH, API_PATH)):
            self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "strict-origin-when-cross-origin")
        super().end_headers()

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if self.path.startswith(MEDIA_PATH) and status == 200:
            self.send_header("Cache-Control", "public, max-age=86400")  # keys are never overwritten
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the API's log is the interesting one


class WebServer:
    """`with WebServer(port, api_url) as web:` serves web/ in a thread until the block ends, and forwards
    `/api/*` to `api_url`: the web app's `config.js` says its API is `/api`, on its own origin."""

    def __init__(self, port: int, api_url: str, root: Path = WEB_ROOT, websocket_url: str = "",
                 read_media: MediaReader | None = None) -> None:
        handler = type("Handler", (_Handler,), {"config_js": config_script(API_PATH, websocket_url),
                                                "api_url": api_url.rstrip("/"),
                                                "read_media": staticmethod(read_media) if read_media else None})
        self._server = ThreadingHTTPServer(("127.0.0.1", port), partial(handler, directory=str(root)))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="web-server", daemon=True)

    def __enter__(self) -> WebServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
