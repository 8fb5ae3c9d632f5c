"""A local HTTP receiver that records deliveries, as a Slack/webhook endpoint would see them.

It can answer 500 for the first N requests (a receiver that is down), hold a request unanswered
until released (to kill the sender mid-delivery), and dedupe by ``Idempotency-Key`` as a receiver
honouring the key does.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Delivery:
    path: str
    key: str
    headers: dict[str, str]
    body: bytes
    status: int

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    fail_first: int = 0
    hold_at: int | None = None  # 1-based request number to hold unanswered until release()
    deliveries: list[Delivery] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)
    released: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver.arrived:
                    n = len(receiver.deliveries) + 1
                    status = 500 if n <= receiver.fail_first else 200
                    receiver.deliveries.append(
                        Delivery(self.path, self.headers.get("idempotency-key", ""), dict(self.headers), body, status)
                    )
                    receiver.arrived.notify_all()
                if receiver.hold_at == n:
                    receiver.released.wait(30)
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, n: int, timeout: float = 30.0) -> bool:
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.deliveries) >= n, timeout)

    def accepted_keys(self) -> list[str]:
        """Keys in first-accepted order, each once: what a receiver honouring Idempotency-Key keeps."""
        seen: list[str] = []
        for d in self.deliveries:
            if d.status == 200 and d.key not in seen:
                seen.append(d.key)
        return seen

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()
