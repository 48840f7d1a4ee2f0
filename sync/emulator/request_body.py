"""Reading a POST to /events: the parameters from the query string and the body.

The Graph API takes parameters from the query string and from a JSON, form-encoded or
multipart body alike. The official Python SDK form-encodes the body and sends `data` as
JSON text of a list whose items are themselves JSON text of one event each.
"""
from __future__ import annotations

import gzip
import zlib
from urllib.parse import parse_qsl

import orjson

from . import graph_errors as ge


def parse_query(query: str) -> dict[str, str]:
    return dict(parse_qsl(query, keep_blank_values=True))


def parse_body(body: bytes, content_type: str, content_encoding: str = "") -> dict:
    """The body's parameters as a dict; `data` may still be JSON text (see `events_of`)."""
    encoding = content_encoding.strip().lower()
    if encoding == "gzip":
        body = _decompress(gzip.decompress, body)
    elif encoding == "deflate":
        body = _decompress(zlib.decompress, body)
    elif encoding not in ("", "identity"):
        raise ge.invalid_request(f"Unsupported Content-Encoding {content_encoding!r}")
    if not body:
        return {}
    mime, params = _split_content_type(content_type)
    if mime == "application/json" or (not mime and body[:1] in (b"{", b"[")):
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ge.invalid_request(f"The request body is not valid JSON: {exc}") from None
        if not isinstance(parsed, dict):
            raise ge.invalid_request("The JSON request body must be an object")
        return parsed
    if mime == "multipart/form-data":
        boundary = params.get("boundary")
        if not boundary:
            raise ge.invalid_request("multipart/form-data without a boundary")
        return _parse_multipart(body, boundary.encode("latin-1"))
    if mime in ("application/x-www-form-urlencoded", "", "text/plain"):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ge.invalid_request("The form body is not UTF-8") from None
        return dict(parse_qsl(text, keep_blank_values=True))
    raise ge.invalid_request(f"Unsupported Content-Type {mime!r}")


def events_of(params: dict) -> list:
    """The `data` parameter as a list of events (each a dict when well-formed).

    Accepts a JSON list, JSON text of a list, and list items that are JSON text of an
    event (the SDK's form). An item that is not JSON stays as it is, so validation names it.
    """
    data = params.get("data")
    if data is None or data == "":
        raise ge.invalid_request("The parameter data is required")
    if isinstance(data, (str, bytes)):
        try:
            data = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise ge.invalid_request("Param data must be an array (JSON text of a list of events)") from None
    if not isinstance(data, list):
        raise ge.invalid_request("Param data must be an array")
    if any(isinstance(item, str) for item in data):
        decoded = []
        for item in data:
            if isinstance(item, str):
                try:
                    item = orjson.loads(item)
                except orjson.JSONDecodeError:
                    pass
            decoded.append(item)
        data = decoded
    return data


def _decompress(fn, body: bytes) -> bytes:
    try:
        return fn(body)
    except (OSError, zlib.error, EOFError):
        raise ge.invalid_request("The request body could not be decompressed") from None


def _split_content_type(content_type: str) -> tuple[str, dict[str, str]]:
    parts = [p.strip() for p in (content_type or "").split(";")]
    params = {}
    for part in parts[1:]:
        key, _, value = part.partition("=")
        params[key.strip().lower()] = value.strip().strip('"')
    return parts[0].lower(), params


def _parse_multipart(body: bytes, boundary: bytes) -> dict:
    out: dict = {}
    delimiter = b"--" + boundary
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk
        head, sep, content = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise ge.invalid_request("Malformed multipart/form-data body")
        if content.endswith(b"\r\n"):
            content = content[:-2]
        name = None
        for line in head.decode("latin-1").split("\r\n"):
            key, _, value = line.partition(":")
            if key.strip().lower() == "content-disposition":
                for item in value.split(";"):
                    k, _, v = item.strip().partition("=")
                    if k == "name":
                        name = v.strip('"')
        if name is None:
            raise ge.invalid_request("A multipart/form-data part has no name")
        try:
            out[name] = content.decode("utf-8")
        except UnicodeDecodeError:
            raise ge.invalid_request(f"Multipart field {name!r} is not UTF-8") from None
    return out
