"""Hostile input (issue 7; RELIABILITY S2, S3, S7, H3): property-based tests on everything
tornadopy parses from a client, against a real server (``tornadopy.testing.serve``) over raw
sockets.

The ``relsite`` application runs in-process with its whole middleware stack (request ids,
sessions and tokens on Redis DB 12 under a key prefix of the test) and ``DEBUG = False``.
Hypothesis generates session cookies (random text and mutations of real signed ids), token ids
(Bearer header and ``tokenID`` argument), the ``format``/``callback`` arguments of an
``ApiHandler``, the ``Host``/``X-Forwarded-*``/``X-Real-Ip``/``Cookie``/``X-Request-ID`` headers
and JSON bodies posted to an ``ApiHandler`` that parses them. For every example: an HTTP answer
(no dropped connection for a well-formed request), never a 5xx, never a traceback or an
exception text in the body, and no error logged by the application.
"""

from __future__ import annotations

import json
import logging
import re
import string
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.load import HttpConnection, Response
from tornado.httputil import parse_cookie

from tornadopy.application import Application
from tornadopy.conf import override_settings
from tornadopy.conf import settings as tp_settings
from tornadopy.testing import serve

from .conftest import REDIS_DB, delete_keys

pytestmark = pytest.mark.redis

EXAMPLES = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
LEAKS = re.compile(rb"Traceback|File \"|Error:|Exception|tornadopy/|site-packages")

# header-safe text: anything but CR, LF and NUL (those would end or corrupt the header block,
# which test_raw_header_garbage covers separately)
HEADER_TEXT = st.text(
    st.characters(blacklist_characters="\r\n\x00", blacklist_categories=("Cs",)), max_size=300
)
# raw header bytes (sent as they are)
RAW_HEADER = st.binary(max_size=300).map(
    lambda b: b.replace(b"\r", b"").replace(b"\n", b"").replace(b"\x00", b"")
)


def value(prefix: str, v: str | bytes) -> bytes:
    """``prefix`` + ``v`` as header bytes."""
    return prefix.encode() + (v if isinstance(v, bytes) else v.encode("utf-8"))


class Site:
    """The served app plus helpers to send one hostile request on a fresh connection."""

    def __init__(self, client, caplog) -> None:
        self.port = client.port
        self.caplog = caplog

    async def send(self, method: str, path: str, headers=(), body: bytes | None = None) -> Response:
        self.caplog.clear()  # errors are checked per request
        conn = HttpConnection("127.0.0.1", self.port, timeout=10)
        try:
            return await conn.request(method, path, headers=list(headers), body=body)
        finally:
            conn.close()

    async def raw(self, head: bytes) -> Response:
        self.caplog.clear()
        conn = HttpConnection("127.0.0.1", self.port, timeout=10)
        try:
            return await conn.request("GET", "/", raw_head=head)
        finally:
            conn.close()

    def check(self, resp: Response, *allowed: int) -> None:
        assert resp.status != 0, f"no HTTP answer: {resp.error}"
        assert resp.status < 500, (resp.status, resp.body[:300])
        if allowed:
            assert resp.status in allowed, (resp.status, resp.body[:300])
        assert not LEAKS.search(resp.body), resp.body[:500]
        errors = [
            r
            for r in self.caplog.records
            if r.levelno >= logging.ERROR and r.name.startswith("tornado")
        ]
        assert not errors, [r.getMessage() for r in errors]


@pytest.fixture
async def site(redis_server, prefix, monkeypatch, caplog):
    import importlib

    monkeypatch.setenv("RELSITE_REDIS", "127.0.0.1:6379")
    monkeypatch.setenv("RELSITE_REDIS_DB", str(REDIS_DB))
    monkeypatch.setenv("RELSITE_PREFIX", prefix)
    relsettings = importlib.reload(importlib.import_module("relsite.settings"))
    tp_settings.configure(relsettings)
    caplog.set_level(logging.WARNING)
    app = Application()
    try:
        async with serve(app) as client:
            yield Site(client, caplog)
    finally:
        await delete_keys("127.0.0.1:6379", REDIS_DB, f"{prefix}*")


async def login_cookie(site: Site) -> str:
    resp = await site.send("GET", "/s/login?user=alice")
    assert resp.status == 200
    return resp.cookie("relsid") or ""


def mutations(valid: str):
    """Strategies deriving hostile ids from a valid signed one."""
    alphabet = string.ascii_letters + string.digits + "-_.=/\\ ;,\"'"
    return st.one_of(
        st.integers(0, len(valid)).map(lambda n: valid[:n]),  # truncated
        st.text(alphabet, min_size=1, max_size=20).map(lambda t: valid + t),  # extended
        st.tuples(st.integers(0, len(valid) - 1), st.sampled_from(alphabet)).map(
            lambda p: valid[: p[0]] + p[1] + valid[p[0] + 1 :]  # one character flipped
        ),
        st.just(".".join(reversed(valid.split(".")))),  # parts swapped
        st.just("v2" + valid[2:]),  # another version
        st.just(valid + "." + valid),
    )


# ---------------------------------------------------------------- session cookies (S2, S3)


@EXAMPLES
@given(
    raw=st.one_of(
        HEADER_TEXT,
        RAW_HEADER,
        st.text(string.ascii_letters + string.digits + string.punctuation + " ", max_size=5000),
    )
)
async def test_random_session_cookies_are_anonymous_sessions(site, raw):
    resp = await site.send("GET", "/session/echo", [("Cookie", value("relsid=", raw))])
    site.check(resp, 200, 400)
    if resp.status == 200:
        assert resp.json()["user"] is None and resp.json()["new"] is True


@EXAMPLES
@given(data=st.data())
async def test_tampered_signed_session_ids_never_load_the_session(site, data):
    valid = await login_cookie(site)
    # not just another spelling of the same cookie ("<id>;", "<id> " parse back to the id)
    hostile = data.draw(
        mutations(valid).filter(lambda v: parse_cookie(f"relsid={v}").get("relsid") != valid)
    )
    resp = await site.send("GET", "/session/echo", [("Cookie", f"relsid={hostile}")])
    site.check(resp, 200, 400)
    if resp.status == 200:
        assert resp.json()["user"] is None
    # the real session is untouched by the attempt
    ok = await site.send("GET", "/session/echo", [("Cookie", f"relsid={valid}")])
    site.check(ok, 200)
    assert ok.json()["user"] == "alice"


# ---------------------------------------------------------------- token ids (S8)


@EXAMPLES
@given(raw=st.one_of(HEADER_TEXT, RAW_HEADER), where=st.sampled_from(["bearer", "arg"]))
async def test_random_token_ids_are_anonymous(site, raw, where):
    if where == "bearer":
        resp = await site.send("GET", "/token/echo", [("Authorization", value("Bearer ", raw))])
    else:
        resp = await site.send("GET", "/token/echo?tokenID=" + quote(raw, safe=""))
    site.check(resp, 200, 400)
    if resp.status == 200:
        assert resp.json()["user"] is None


@EXAMPLES
@given(data=st.data())
async def test_tampered_token_ids_are_refused(site, data):
    login = await site.send("GET", "/t/login?uid=7")
    valid = login.json()["token"]
    hostile = data.draw(mutations(valid).filter(lambda v: v.strip() != valid))
    resp = await site.send("GET", "/token/echo", [("Authorization", f"Bearer {hostile}")])
    site.check(resp, 200, 400)
    if resp.status == 200:
        assert resp.json()["user"] is None


# ---------------------------------------------------------------- ApiHandler format / callback

ARG_TEXT = st.text(max_size=200)


@EXAMPLES
@given(
    fmt=st.one_of(st.none(), st.sampled_from(["json", "jsonp", "JSONP", "xml", ""]), ARG_TEXT),
    callback=st.one_of(st.none(), st.sampled_from(["cb", "a.b", "alert(1)//"]), ARG_TEXT),
    accept=st.one_of(st.none(), st.sampled_from(["application/javascript", "*/*"]), HEADER_TEXT),
    ascii_only=st.sampled_from(["0", "1"]),
)
async def test_format_and_callback_arguments(site, fmt, callback, accept, ascii_only):
    query = [("ascii", ascii_only)]
    if fmt is not None:
        query.append(("format", fmt))
    if callback is not None:
        query.append(("callback", callback))
    path = "/api/echo?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query)
    headers = [("Accept", accept)] if accept is not None else []
    resp = await site.send("GET", path, headers)
    site.check(resp, 200, 400)
    if resp.status != 200:
        if resp.header("x-served-by"):  # the handler answered (not the HTTP parser)
            assert resp.json()["code"] == 400  # errors of an ApiHandler are JSON too
        return
    text = resp.body.decode("utf-8")
    if text.startswith("/**/"):
        # JSONP: a plain identifier path, then the JSON, nothing else
        assert resp.header("content-type", "").startswith("application/javascript")
        assert resp.header("x-content-type-options") == "nosniff"
        m = re.fullmatch(r"/\*\*/([A-Za-z_$][\w$.]*)\((.*)\);", text, re.S)
        assert m, text[:200]
        assert m.group(1) == callback
        json.loads(m.group(2))
    else:
        assert resp.header("content-type", "").startswith("application/json")
        json.loads(text)


# ---------------------------------------------------------------- headers (S7, H3)

HEADER_NAMES = [
    "Host",
    "X-Forwarded-For",
    "X-Real-Ip",
    "X-Forwarded-Proto",
    "X-Scheme",
    "Cookie",
    "X-Request-ID",
    "Accept-Language",
    "Content-Type",
]


@EXAMPLES
@given(
    headers=st.lists(
        st.tuples(st.sampled_from(HEADER_NAMES), st.one_of(HEADER_TEXT, RAW_HEADER)),
        min_size=1,
        max_size=6,
    ),
    path=st.sampled_from(["/pid", "/session/echo", "/token/echo", "/api/echo", "/nowhere"]),
)
async def test_hostile_headers(site, headers, path):
    resp = await site.send("GET", path, headers)
    site.check(resp)
    rid = resp.header("x-request-id")
    assert rid is None or re.fullmatch(r"[A-Za-z0-9._:@/+=-]{1,128}", rid), rid
    if path == "/pid" and resp.status == 200:
        body = resp.json()
        assert body["scheme"] in ("http", "https")
        assert re.fullmatch(r"[0-9a-fA-F.:]+", body["ip"]), body["ip"]


@EXAMPLES
@given(host=st.one_of(HEADER_TEXT, RAW_HEADER, st.sampled_from(["evil.com", "[::1", "a:b:c"])))
async def test_hostile_host_with_allowed_hosts(site, host):
    with override_settings(ALLOWED_HOSTS=("localhost", ".example.com")):
        app = Application()
    async with serve(app) as client:
        conn = HttpConnection("127.0.0.1", client.port)
        resp = await conn.request("GET", "/pid", headers=[("Host", host)])
        conn.close()
    site.check(resp, 200, 400)
    if resp.status == 200:
        from tornadopy.proxy import split_host

        name = split_host(host.decode("latin-1") if isinstance(host, bytes) else host)
        assert name == "localhost" or name == "example.com" or name.endswith(".example.com")


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(head=st.binary(max_size=600))
async def test_raw_header_garbage(site, head):
    """Arbitrary bytes as the request head: an HTTP error or a closed connection, never a 5xx."""
    resp = await site.raw(head + b"\r\n\r\n")
    if resp.status:
        site.check(resp)


# ---------------------------------------------------------------- JSON bodies

JSON_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(st.text(max_size=20), children, max_size=5)
    ),
    max_leaves=30,
)
HOSTILE_JSON = st.one_of(
    st.binary(max_size=500),
    st.text(max_size=500).map(lambda t: t.encode("utf-8")),
    st.integers(1, 20_000).map(lambda n: b"[" * n + b"]" * n),  # deep nesting
    st.integers(1, 10_000).map(lambda n: b"9" * n),  # huge numbers
    st.sampled_from(
        [b'"\\ud800"', b'{"a": "\\udfff\\ud800"}', b"NaN", b"[Infinity, -Infinity]", b"1e999"]
    ),
)


@EXAMPLES
@given(
    body=st.one_of(JSON_VALUES.map(lambda v: json.dumps(v).encode()), HOSTILE_JSON),
    ascii_only=st.sampled_from(["0", "1"]),
    content_type=st.sampled_from(
        ["application/json", "text/plain", "application/x-www-form-urlencoded"]
    ),
)
async def test_json_bodies_to_an_api_handler(site, body, ascii_only, content_type):
    resp = await site.send(
        "POST", f"/api/echo?ascii={ascii_only}", [("Content-Type", content_type)], body
    )
    site.check(resp, 200, 400)
    if resp.status == 200:
        assert resp.header("content-type", "").startswith("application/json")
        echoed = resp.json()["echo"]
        assert echoed == json.loads(body) or echoed != echoed  # NaN is never equal
