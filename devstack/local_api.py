"""`python -m devstack.local_api local --stage local ...`: `chalice local` as the dev stack runs it.

It is Chalice's own command, in a process where the harness first makes two things as strict as
AWS, without touching product code:

- IAM (devstack/iam.py): routes run as the API handler's role and the built-in authorizer as its
  own, checked against the policies the dev stack wrote for this stage.
- The edge: `chalice local` answers what never reaches the app (a method it does not serve, a
  request line or headers over the limit, a malformed request line) with http.server's HTML pages
  (TRACE: 501, a 100 KB header: 431). API Gateway answers JSON, `{"message": ...}`: a method or path
  the API does not have is 403 "Missing Authentication Token", and request line plus headers are
  limited to 10,240 bytes ("Amazon API Gateway quotas", REST APIs). `api_gateway_errors` does the same,
  and `accept_bursts` lets a burst of connections queue instead of being reset.
"""

from __future__ import annotations

import json
import sys
from http import HTTPStatus
from typing import Any

from devstack import contract, iam, metering

# "Total combined size of request line and header values": API Gateway's quota for REST APIs.
MAX_REQUEST_LINE_AND_HEADERS_BYTES = 10240
LISTEN_BACKLOG = 1024


def api_gateway_errors() -> None:
    """Make chalice local's request handler answer every error it produces itself in JSON."""
    from chalice.local import ChaliceRequestHandler

    def send_error(self: Any, code: int, message: str | None = None, explain: str | None = None) -> None:
        if code == HTTPStatus.NOT_IMPLEMENTED:  # a method chalice local has no do_<METHOD> for
            code, message = HTTPStatus.FORBIDDEN, "Missing Authentication Token"
        text = message or HTTPStatus(code).phrase
        body = json.dumps({"message": text}).encode()
        self.log_error("code %d, message %s", code, text)
        self.send_response(code, HTTPStatus(code).phrase)
        self.send_header("Connection", "close")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-ErrorType", "ClientException")
        self.end_headers()
        if self.command != "HEAD" and code >= 200 and code not in (HTTPStatus.NO_CONTENT, HTTPStatus.NOT_MODIFIED):
            self.wfile.write(body)

    parse_request = ChaliceRequestHandler.parse_request

    def parse_request_within_limits(self: Any) -> bool:
        if not parse_request(self):
            return False
        size = len(self.raw_requestline) + sum(len(k) + len(v) + 4 for k, v in self.headers.items())
        if size > MAX_REQUEST_LINE_AND_HEADERS_BYTES:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
            return False
        return True

    ChaliceRequestHandler.send_error = send_error
    ChaliceRequestHandler.parse_request = parse_request_within_limits


def accept_bursts() -> None:
    """API Gateway accepts every connection of a burst; http.server listens with a backlog of 5, so 15
    concurrent requests to a busy chalice local were reset ("Connection reset by peer")."""
    from chalice.local import ThreadedHTTPServer

    ThreadedHTTPServer.request_queue_size = LISTEN_BACKLOG


def main() -> int:
    from chalice.cli import main as chalice_main

    metering.install()  # bench/cost.py's meter (STOREFRONT_METER_DIR), beneath the IAM checks
    iam.enforce_from_file()
    contract.install_if_enabled()
    metering.meter_api()
    api_gateway_errors()
    accept_bursts()
    sys.argv[0] = "chalice"
    return chalice_main()


if __name__ == "__main__":
    sys.exit(main())
