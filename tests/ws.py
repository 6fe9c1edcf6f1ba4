"""A WebSocket client for tests and benchmarks: connects with `?token=`, reads frames in a thread and
lets the caller wait (with a deadline) for the frame it expects."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect


class Socket:
    def __init__(self, ws_url: str, token: str | None) -> None:
        url = ws_url if token is None else f"{ws_url}/?token={quote(token, safe='')}"
        self.connection: ClientConnection = connect(url, open_timeout=10)
        self.frames: list[tuple[float, dict[str, Any]]] = []  # (time.monotonic() on arrival, frame)
        self._arrived = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            for text in self.connection:
                with self._arrived:
                    self.frames.append((time.monotonic(), json.loads(text)))
                    self._arrived.notify_all()
        except ConnectionClosed:
            pass

    def send(self, message: Any) -> None:
        self.connection.send(message if isinstance(message, str) else json.dumps(message))

    def wait_for(self, match: Callable[[dict[str, Any]], bool], deadline_s: float = 20,
                 what: str = "a frame") -> dict[str, Any]:
        """The first frame (already received or still to come) for which `match` is true."""
        deadline = time.monotonic() + deadline_s
        with self._arrived:
            while True:
                for _, frame in self.frames:
                    if match(frame):
                        return frame
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out after {deadline_s} s waiting for {what}; got {self.types()}")
                self._arrived.wait(remaining)

    def arrival_of(self, match: Callable[[dict[str, Any]], bool], deadline_s: float = 20) -> float:
        self.wait_for(match, deadline_s)
        return next(at for at, frame in self.frames if match(frame))

    def types(self) -> list[str]:
        return [frame.get("type", "?") for _, frame in list(self.frames)]

    def all(self) -> list[dict[str, Any]]:
        return [frame for _, frame in list(self.frames)]

    def close(self) -> None:
        self.connection.close()
        self._reader.join(5)


def order_frame(order_id: str, status: str | None = None) -> Callable[[dict[str, Any]], bool]:
    return lambda frame: frame.get("type") == "order" and frame["order"]["order_id"] == order_id and (
        status is None or frame["order"]["status"] == status)


def mentions(frame: dict[str, Any], text: str) -> bool:
    return text in json.dumps(frame)
