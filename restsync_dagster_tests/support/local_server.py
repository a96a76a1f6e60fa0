"""A JSON server on 127.0.0.1 for tests that play a vendor or a hostile API: real HTTP, no mocks."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


@dataclass
class Reply:
    """An answer other than a plain 200 with a JSON body."""

    status: int = 200
    body: Any = None  # JSON-encoded unless None (then an empty body)
    headers: dict[str, str] = field(default_factory=dict)


Answer = Callable[[str], Any]  # the request's path (with its query) -> a JSON body to send with 200, or a Reply


class JsonServer:
    """Answers every GET with `answer(path)`: a Reply, or a body sent as JSON with 200; `seen` lists
    the paths asked for, `seen_headers` each request's headers (in the same order)."""

    def __init__(self, answer: Answer) -> None:
        self.seen: list[str] = []
        self.seen_headers: list[dict[str, str]] = []
        seen, seen_headers = self.seen, self.seen_headers

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # headers and body in one segment: no delayed-ACK stalls

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                seen_headers.append(dict(self.headers.items()))
                seen.append(self.path)
                reply = answer(self.path)
                reply = reply if isinstance(reply, Reply) else Reply(200, reply)
                data = b"" if reply.body is None else json.dumps(reply.body).encode()
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
