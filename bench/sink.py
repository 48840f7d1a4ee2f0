"""A loopback HTTP sink that only counts: the cheapest possible Conversions API stand-in.

    python -m bench.sink --port 0 [--latency-ms 0]

Prints `listening <port>` on stdout, then answers every `POST .../events` with
`{"events_received": N, ...}` where N counts `"event_id":` in the body (no JSON parsing),
optionally `--latency-ms` after the body was read. HTTP/1.1 keep-alive, one asyncio loop, one process.
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


async def _serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                            counters: Counters, latency: float) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = _content_length(head)
            body = await reader.readexactly(length) if length else b""
            started = time.time()
            first_line = head.split(b"\r\n", 1)[0].split(b" ")
            method, path = first_line[0], first_line[1]
            if path.startswith(b"/_sink/stats"):
                writer.write(_response(b"200 OK", json.dumps(counters.as_dict()).encode()))
            elif path.startswith(b"/_sink/reset"):
                counters.reset()
                writer.write(_response(b"200 OK", b'{"ok":true}'))
            elif method == b"POST" and path.endswith(b"/events"):
                if counters.first_request_at is None:
                    counters.first_request_at = started
                n = body.count(_EVENT_KEY)
                counters.requests += 1
                counters.bytes += length
                if latency:   # answered `latency` after the body was read (counting included)
                    await asyncio.sleep(max(0.0, latency - (time.time() - started)))
                counters.events += n
                writer.write(_response(b"200 OK", b'{"events_received":%d,"messages":[],"fbtrace_id":"bench-sink"}' % n))
                counters.last_answer_at = time.time()
            else:
                writer.write(_response(b"404 Not Found", b'{"error":{"message":"not found","code":100}}'))
            await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        pass
    finally:
        writer.close()


async def serve(host: str, port: int, latency_ms: float) -> None:
    counters = Counters()
    latency = latency_ms / 1000.0

    async def handler(reader, writer):
        await _serve_connection(reader, writer, counters, latency)

    server = await asyncio.start_server(handler, host, port, limit=1 << 20)
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
