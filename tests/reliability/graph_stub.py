"""A tiny real HTTP server answering Graph API errors the emulator cannot produce
(codes 10, 200-299, 104, an unknown code with is_transient). Listens on 127.0.0.1."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class GraphStub:
    """Answers the first requests from `script` ((status, error dict) pairs), then accepts."""

    def __init__(self, script: list[tuple[int, dict]]):
        self.script = list(script)
        self.requests: list[dict] = []
        self.accepted: list[str] = []
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                data = json.loads(body).get("data", [])
                with stub._lock:
                    stub.requests.append({"path": self.path, "n_events": len(data),
                                          "authorization": self.headers.get("Authorization", "")})
                    answer = stub.script.pop(0) if stub.script else None
                    if answer is None:
                        stub.accepted.extend(e["event_id"] for e in data)
                if answer is None:
                    status, payload = 200, {"events_received": len(data), "messages": [], "fbtrace_id": "StubTrace"}
                else:
                    status, payload = answer[0], {"error": {"fbtrace_id": "StubTrace", **answer[1]}}
                out = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "GraphStub":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
