"""How an ASGI scope becomes the start line and headers Tornado sees (no server needed)."""

from __future__ import annotations

import pytest
from tornado.httputil import HTTPInputError

from tornadopy.asgi.request import RequestContext, build_request, content_length


def scope(**kw):
    base = {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "headers": [(b"host", b"example.com")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    base.update(kw)
    return base


def test_uri_from_raw_path_and_query():
    start, _ = build_request(scope(path="/a/b", raw_path=b"/a%2Fb", query_string=b"x=%2F&y=1"))
    assert start.path == "/a%2Fb?x=%2F&y=1"
    assert start.method == "GET"
    assert start.version == "HTTP/1.1"


def test_uri_without_raw_path_is_quoted_from_path():
    start, _ = build_request(scope(path="/caf\u00e9 x", raw_path=None))
    assert start.path == "/caf%C3%A9%20x"


@pytest.mark.parametrize(
    ("asgi", "tornado"),
    [("1", "HTTP/1.0"), ("1.0", "HTTP/1.0"), ("1.1", "HTTP/1.1"), ("2", "HTTP/2.0")],
)
def test_http_versions(asgi, tornado):
    start, _ = build_request(scope(http_version=asgi))
    assert start.version == tornado


def test_granian_empty_host_on_http10_is_no_host():
    _, headers = build_request(scope(http_version="1", headers=[(b"host", b"")]))
    assert "Host" not in headers


def test_empty_host_on_http11_is_kept_as_sent():
    _, headers = build_request(scope(headers=[(b"host", b"")]))
    assert headers["Host"] == ""


def test_http2_without_host_gets_the_server_address():
    _, headers = build_request(scope(http_version="2", headers=[]))
    assert headers["Host"] == "127.0.0.1:8000"


def test_repeated_headers_are_kept():
    _, headers = build_request(
        scope(headers=[(b"host", b"h"), (b"x-a", b"1"), (b"cookie", b"a=1"), (b"x-a", b"2")])
    )
    assert headers.get_list("X-A") == ["1", "2"]
    assert headers["X-A"] == "1,2"  # as Tornado joins repeated header lines
    assert headers["Cookie"] == "a=1"


def test_latin1_header_values():
    _, headers = build_request(
        scope(headers=[(b"host", b"h"), (b"x-name", "zo\u00eb".encode("latin-1"))])
    )
    assert headers["X-Name"] == "zo\u00eb"


@pytest.mark.parametrize(
    ("value", "expected"), [(None, None), ("0", 0), ("12", 12), ("12, 12", 12)]
)
def testcontent_length(value, expected):
    hdrs = [(b"host", b"h")] + ([(b"content-length", value.encode())] if value else [])
    _, headers = build_request(scope(headers=hdrs))
    assert content_length(headers) == expected


def test_chunked_body_has_unknown_length():
    _, headers = build_request(scope(headers=[(b"transfer-encoding", b"chunked")]))
    assert content_length(headers) == -1


@pytest.mark.parametrize("value", ["-1", "1e3", "12, 13"])
def test_badcontent_length(value):
    _, headers = build_request(scope(headers=[(b"content-length", value.encode())]))
    with pytest.raises(HTTPInputError):
        content_length(headers)


def test_context_from_the_scope():
    ctx = RequestContext(("10.0.0.5", 4242), "https")
    assert (ctx.remote_ip, ctx.protocol, ctx.address, str(ctx)) == (
        "10.0.0.5",
        "https",
        ("10.0.0.5", 4242),
        "10.0.0.5",
    )
    unix = RequestContext(None, "http")
    assert (unix.remote_ip, unix.protocol, unix.address) == ("0.0.0.0", "http", None)
