"""A real HTTP webhook on 127.0.0.1 (a free port) for alert tests: records every POSTed JSON body, and can
answer the first requests with an error status or stall them past the client's timeout."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class WebhookServer:
    """Context manager serving in a thread; `messages` holds accepted bodies, `attempts` every request."""

    def __init__(self, fail_first: int = 0, status: int = 500, stall_seconds: float = 0.0) -> None:
        self.fail_first, self.status, self.stall_seconds = fail_first, status, stall_seconds
        self.messages: list[dict[str, Any]] = []
        self.attempts = 0
        self.content_types: list[str] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/hooks/alerts"

    def __enter__(self) -> "WebhookServer":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with server._lock:
                    server.attempts += 1
                    attempt = server.attempts
                    server.content_types.append(self.headers.get("Content-Type", ""))
                if attempt <= server.fail_first:
                    time.sleep(server.stall_seconds)
                    self.send_response(server.status)
                    self.end_headers()
                    return
                with server._lock:
                    server.messages.append(json.loads(body))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                """Keep test output quiet."""

        return Handler
