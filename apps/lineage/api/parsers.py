"""The OpenLineage request body: JSON, optionally ``Content-Encoding: gzip`` (the official
clients' ``compression: gzip``), bounded before and after decompression."""

from __future__ import annotations

import json
import zlib
from typing import Any

from rest_framework import exceptions, parsers

MAX_BODY = 32 * 1024 * 1024  # bytes on the wire
MAX_JSON = 64 * 1024 * 1024  # bytes after decompression


class PayloadTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


def read_body(stream: Any, encoding: str) -> bytes:
    data = stream.read(MAX_BODY + 1) if stream is not None else b""
    if len(data) > MAX_BODY:
        raise PayloadTooLarge(f"At most {MAX_BODY // (1024 * 1024)} MiB per request; send smaller batches.")
    encoding = (encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        return data
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise exceptions.UnsupportedMediaType(encoding, f"Content-Encoding {encoding!r} is not supported; use gzip.")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS if "gzip" in encoding else zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, MAX_JSON + 1)
    except zlib.error as exc:
        raise exceptions.ParseError(f"The body is not valid {encoding}: {exc}.") from None
    if len(out) > MAX_JSON or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"At most {MAX_JSON // (1024 * 1024)} MiB of JSON per request after decompression.")
    return out


class OpenLineageParser(parsers.BaseParser):
    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        request = (parser_context or {}).get("request")
        encoding = request.META.get("HTTP_CONTENT_ENCODING", "") if request is not None else ""
        body = read_body(stream, encoding)
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise exceptions.ParseError(f"The body is not valid JSON: {exc}.") from None


class AnyJSONParser(OpenLineageParser):
    """Producers that send ``text/plain`` or no content type at all."""

    media_type = "*/*"
