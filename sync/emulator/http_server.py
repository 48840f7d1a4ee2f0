"""The emulator's HTTP/1.1 transport: a threading server with keep-alive that reads each body
(Content-Length or chunked, at most MAX_BODY_BYTES) and hands it to the emulator, and the JSON
answer (`send_json`). What is answered is decided in sync/emulator/server.py.
"""
from __future__ import annotations

import socket
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson

MAX_BODY_BYTES = 64 * 1024 * 1024
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            413: "Payload Too Large", 429: "Too Many Requests", 500: "Internal Server Error",
            502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, handler_class, emulator) -> None:
        self.emulator = emulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler_class)

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse DNS lookup (getfqdn), which can take seconds."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request, client_address) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_all_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "capi-emulator"
    sys_version = ""
    disable_nagle_algorithm = True
    server: Server

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def _dispatch(self, method: str) -> None:
        try:
            body = self._read_body()
        except ValueError as exc:
            self.close_connection = True
            send_json(self, 413 if "large" in str(exc) else 400, {"error": {"message": str(exc)}})
            return
        emulator = self.server.emulator
        if self.path.startswith("/_emulator/"):
            emulator.handle_control(self, method, body)
        else:
            emulator.handle_graph(self, method, body)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks, total = [], 0
            while True:
                size_line = self.rfile.readline(1024)
                if not size_line:
                    raise ValueError("connection closed inside a chunked body")
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY_BYTES:
                    raise ValueError("request body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        if not length.strip().isdigit():
            raise ValueError("invalid Content-Length")
        n = int(length)
        if n > MAX_BODY_BYTES:
            raise ValueError("request body too large")
        if n == 0:
            return b""
        # What rfile already buffered, then the rest in one waiting receive: one release of
        # the GIL instead of one per socket read (a 1 MB body waited for the GIL ~20 times
        # while other threads parsed theirs).
        body = bytearray(n)
        view = memoryview(body)
        got = self.rfile.readinto(view[:min(n, len(self.rfile.peek()))])
        while got < n:
            received = self.connection.recv_into(view[got:], n - got, socket.MSG_WAITALL)
            if not received:
                raise ValueError("connection closed before the end of the body")
            got += received
        return bytes(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the stdlib's name
        """Silent: request lines can carry a token in the query string."""


def send_json(handler: BaseHTTPRequestHandler, status: int, payload: dict, fbtrace_id: str | None = None) -> None:
    body = orjson.dumps(payload)
    head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}",
            "Content-Type: application/json; charset=UTF-8",
            f"Content-Length: {len(body)}"]
    if fbtrace_id:
        head.append(f"x-fb-trace-id: {fbtrace_id}")
    if handler.close_connection:
        head.append("Connection: close")
    try:
        handler.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("ascii") + body)
    except OSError:
        handler.close_connection = True
