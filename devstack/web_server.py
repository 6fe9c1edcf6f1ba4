"""Serves the single-page app in web/ on 127.0.0.1, as the site bucket does on AWS.

Static files come from web/ as they are (no build step), with the Content-Type the site bucket gives
them; `config.js` is generated so the app knows the API's (and the WebSocket endpoint's) URL, what differs between the
dev stack and a deployed stage (where `make deploy` writes the same file into the site bucket, both
from `infra.site.config_script`).
"""

from __future__ import annotations

import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from infra.site import CONFIG_SCRIPT, WEB_ROOT, config_script, content_type


class _Handler(SimpleHTTPRequestHandler):
    config_js: bytes = b""

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] == f"/{CONFIG_SCRIPT}":
            self._send(200, content_type(CONFIG_SCRIPT), self.config_js)
            return
        super().do_GET()

    def guess_type(self, path: str | Path) -> str:
        return content_type(str(path))  # the Content-Type the site bucket gives the same file

    def end_headers(self) -> None:
        # The same security headers CloudFront adds in front of the site bucket.
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "strict-origin-when-cross-origin")
        super().end_headers()

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the API's log is the interesting one


class WebServer:
    """`with WebServer(port, api_url) as web:` serves web/ in a thread until the block ends."""

    def __init__(self, port: int, api_url: str, root: Path = WEB_ROOT, websocket_url: str = "") -> None:
        handler = type("Handler", (_Handler,), {"config_js": config_script(api_url, websocket_url)})
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
