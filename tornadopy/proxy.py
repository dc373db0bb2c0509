"""Proxy headers and allowed hosts, applied before routing.

``XHEADERS = True`` makes tornadopy read ``X-Forwarded-For``/``X-Real-Ip`` (client address) and
``X-Forwarded-Proto``/``X-Scheme`` (scheme) -- but only when the connection comes from an address
in ``TRUSTED_PROXIES`` (addresses or CIDR networks; default loopback). A client talking to the
server directly cannot forge its address or scheme (Tornado's own ``xheaders`` trusts any
sender). In ``X-Forwarded-For`` the client is the right-most address that is not itself a
trusted proxy.

``ALLOWED_HOSTS`` (empty = no check) lists the host names the site answers to: ``'example.com'``,
``'.example.com'`` (the domain and its subdomains) or ``'*'``. A request for any other ``Host``
gets 400 before routing.
"""

from __future__ import annotations

from collections.abc import Iterable

from tornado import httputil
from tornado.netutil import is_valid_ip

from tornadopy.decorators.whitelist import Network, ip_allowed, parse_networks


class ProxyHeaders:
    """Applies trusted proxy headers to a request (built once from settings)."""

    __slots__ = ("trusted",)

    def __init__(self, trusted: Iterable[str]) -> None:
        self.trusted: tuple[Network, ...] = parse_networks(trusted, setting="TRUSTED_PROXIES")

    def apply(self, request: httputil.HTTPServerRequest) -> None:
        if not ip_allowed(request.remote_ip, self.trusted):
            return
        headers = request.headers
        client = None
        forwarded = headers.get("X-Forwarded-For")
        if forwarded:
            hops = [h.strip() for h in forwarded.split(",") if h.strip()]
            for hop in reversed(hops):
                client = hop
                if not ip_allowed(hop, self.trusted):
                    break
        else:
            client = headers.get("X-Real-Ip")
        if client and is_valid_ip(client):
            request.remote_ip = client
        proto = headers.get("X-Scheme") or headers.get("X-Forwarded-Proto")
        if proto:
            proto = proto.split(",")[-1].strip().lower()
            if proto in ("http", "https"):
                request.protocol = proto


class AllowedHosts:
    """Checks the request's ``Host`` against ``ALLOWED_HOSTS``."""

    __slots__ = ("any", "exact", "suffixes")

    def __init__(self, hosts: Iterable[str]) -> None:
        hosts = [h.lower().strip() for h in hosts]
        self.any = "*" in hosts
        self.exact = frozenset(h for h in hosts if not h.startswith("."))
        self.suffixes = tuple(h for h in hosts if h.startswith("."))

    def allows(self, host_header: str) -> bool:
        if self.any:
            return True
        host = split_host(host_header)
        if not host:
            return False
        if host in self.exact:
            return True
        return any(host == s[1:] or host.endswith(s) for s in self.suffixes)


def split_host(host_header: str) -> str:
    """The host name of a ``Host`` header, lower-cased, without the port."""
    host = host_header.strip().lower()
    if host.startswith("["):  # IPv6 literal
        end = host.find("]")
        return host[: end + 1] if end > 0 else ""
    return host.rsplit(":", 1)[0] if ":" in host else host
