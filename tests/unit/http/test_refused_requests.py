"""What aiohttp's parser says about a request it refuses, reduced to the field it names and
why, without the value (it may be a key)."""

from __future__ import annotations

import asyncio
from unittest import mock

import pytest
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.http_parser import HttpRequestParser, HttpRequestParserPy

from ledger.http.runtime.server import refused_field

PARSERS = [HttpRequestParser, HttpRequestParserPy]  # llhttp, and aiohttp's pure-Python parser


def _refusal(parser_class, request: bytes) -> HttpProcessingError:
    loop = asyncio.new_event_loop()
    try:
        parser = parser_class(mock.Mock(), loop, 2**16, max_line_size=8190, max_field_size=8190)
        with pytest.raises(HttpProcessingError) as refused:
            parser.feed_data(request)
    finally:
        loop.close()
    return refused.value


def _request(*lines: bytes) -> bytes:
    return b"\r\n".join([b"GET /orders HTTP/1.1", b"Host: x", *lines]) + b"\r\n\r\n"


@pytest.mark.parametrize(
    ("request_bytes", "field"),
    [
        (_request(b"X-Tenant: a\x01b"), "X-Tenant"),
        (_request(b"Content-Length: abc"), "Content-Length"),
        (_request(b"X\x01Tenant: ab"), "headers"),
        (b"GET /a\x00b HTTP/1.1\r\nHost: x\r\n\r\n", "path"),
        (b"G\x01T / HTTP/1.1\r\nHost: x\r\n\r\n", "method"),
    ],
)
def test_the_llhttp_parser_s_refusal_names_the_field(request_bytes, field):
    named, reason = refused_field(_refusal(HttpRequestParser, request_bytes))
    assert named == field and reason


@pytest.mark.parametrize("parser_class", PARSERS)
def test_the_reason_never_repeats_the_refused_value(parser_class):
    named, reason = refused_field(_refusal(parser_class, _request(b"Authorization: k\x01SECRET")))
    assert named in ("Authorization", "headers")
    assert "SECRET" not in reason


def test_without_llhttp_a_header_refusal_still_names_the_headers():
    named, _ = refused_field(_refusal(HttpRequestParserPy, _request(b"X-Tenant: a\x01b")))
    assert named == "headers"
