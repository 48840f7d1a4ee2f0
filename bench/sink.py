"""A loopback HTTP sink that only counts: the cheapest possible Conversions API stand-in.

    python -m bench.sink --port 0 [--latency-ms 0]

Prints `listening <port>` on stdout, then answers every `POST .../events` with
`{"events_received": N, ...}` where N counts `"event_id":` in the body (no JSON parsing; in a
form-encoded body such as the SDK's, `%5C%22event_id%5C%22%3A`),
optionally `--latency-ms` after the body was read. HTTP/1.1 keep-alive, one asyncio loop, one
process; bodies are read into a reused buffer per connection and counted in place.
`GET /_sink/stats` returns the counters (requests, events, bytes, first request start,
last answer, wall clock seconds); `POST /_sink/reset` clears them.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

_EVENT_KEY = b'"event_id":'
_FORM_EVENT_KEY = b'%5C%22event_id%5C%22%3A'   # the key in the SDK's form-encoded body (JSON in JSON)


class Counters:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.events = 0
        self.bytes = 0
        self.first_request_at: float | None = None
        self.last_answer_at: float | None = None

    def as_dict(self) -> dict:
        return {"requests": self.requests, "events": self.events, "bytes": self.bytes,
                "first_request_at": self.first_request_at, "last_answer_at": self.last_answer_at}


def _response(status: bytes, payload: bytes) -> bytes:
    return (b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(payload)).encode() + b"\r\n\r\n" + payload)


def _content_length(head: bytes) -> int:
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    if at < 0:
        return 0
    end = lower.find(b"\r\n", at + 2)
    return int(lower[at + 17:end].strip())


class _Connection(asyncio.BufferedProtocol):
    """One keep-alive connection. The socket reads go straight into one buffer per connection
    (`BufferedProtocol`), the events of a body are counted in place and the buffer is reused:
    no copy of a body in Python, so the sink takes as little of the machine's CPU as it can
    while the sync runs next to it (a real API does not share the sync's cores at all)."""

    def __init__(self, counters: Counters, latency: float) -> None:
        self._counters = counters
        self._latency = latency
        self._buf = bytearray(1 << 21)
        self._view = memoryview(self._buf)
        self._end = 0                    # bytes of _buf received
        self._head_end: int | None = None  # where the current request's body starts
        self._need = 0                   # where it ends
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self._transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        if self._end == len(self._buf):
            self._grow(2 * len(self._buf))
        return self._view[self._end:]

    def buffer_updated(self, nbytes: int) -> None:
        self._end += nbytes
        while self._request_complete():
            self._answer()

    def _grow(self, size: int) -> None:
        bigger = bytearray(size)
        bigger[:self._end] = self._view[:self._end]
        self._view.release()
        self._buf, self._view = bigger, memoryview(bigger)

    def _request_complete(self) -> bool:
        if self._head_end is None:
            at = self._buf.find(b"\r\n\r\n", 0, self._end)
            if at < 0:
                return False
            self._head_end = at + 4
            self._need = self._head_end + _content_length(bytes(self._view[:at + 2]))
            if self._need > len(self._buf):
                self._grow(self._need)
        return self._end >= self._need

    def _answer(self) -> None:
        started = time.time()
        head_end, need = self._head_end, self._need
        first_line = bytes(self._view[:self._buf.find(b"\r\n", 0, head_end)]).split(b" ")
        method, path = first_line[0], first_line[1]
        counters = self._counters
        delay, events = 0.0, False
        if path.startswith(b"/_sink/stats"):
            response = _response(b"200 OK", json.dumps(counters.as_dict()).encode())
        elif path.startswith(b"/_sink/reset"):
            counters.reset()
            response = _response(b"200 OK", b'{"ok":true}')
        elif method == b"POST" and path.endswith(b"/events"):
            if counters.first_request_at is None:
                counters.first_request_at = started
            n = self._buf.count(_EVENT_KEY, head_end, need) or self._buf.count(_FORM_EVENT_KEY, head_end, need)
            counters.requests += 1
            counters.bytes += need - head_end
            counters.events += n
            response = _response(b"200 OK", b'{"events_received":%d,"messages":[],"fbtrace_id":"bench-sink"}' % n)
            events = True
            # answered `latency` after the body was read (counting included)
            delay = max(0.0, self._latency - (time.time() - started)) if self._latency else 0.0
        else:
            response = _response(b"404 Not Found", b'{"error":{"message":"not found","code":100}}')
        # the next request's bytes (a client that pipelines) move to the front
        rest = self._end - need
        if rest:
            self._buf[:rest] = self._view[need:self._end]
        self._end, self._head_end, self._need = rest, None, 0
        if delay:
            asyncio.get_running_loop().call_later(delay, self._write, response, events)
        else:
            self._write(response, events)

    def _write(self, response: bytes, events: bool) -> None:
        if self._transport is None or self._transport.is_closing():
            return
        self._transport.write(response)
        if events:
            self._counters.last_answer_at = time.time()

    def connection_lost(self, exc) -> None:
        self._transport = None


async def serve(host: str, port: int, latency_ms: float) -> None:
    counters = Counters()
    latency = latency_ms / 1000.0
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Connection(counters, latency), host, port)
    bound = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"listening {bound}\n")
    sys.stdout.flush()
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sink", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args(argv)
    try:
        asyncio.run(serve(args.host, args.port, args.latency_ms))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
