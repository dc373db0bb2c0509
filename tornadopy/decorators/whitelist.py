"""``whitelisted``: answer 403 to clients not on a list of addresses.

::

    class Admin(WebHandler):
        @whitelisted                      # settings.WHITELIST
        def get(self): ...

        @whitelisted(['10.0.0.0/8'])      # an explicit list (addresses or networks)
        async def post(self): ...

Entries are IP addresses or networks in CIDR form. The client address is
``handler.request.remote_ip`` (which honours proxy headers only from trusted proxies).
"""

from __future__ import annotations

import functools
import inspect
import ipaddress
from collections.abc import Callable, Iterable
from typing import Any

from tornado.web import HTTPError

from tornadopy.conf import settings
from tornadopy.exception import ImproperlyConfigured

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Iterable[str], setting: str = "WHITELIST") -> tuple[Network, ...]:
    """Parse addresses/networks; a bad entry raises ImproperlyConfigured naming it."""
    if isinstance(entries, str):
        entries = [entries]
    nets = []
    for entry in entries:
        try:
            nets.append(ipaddress.ip_network(str(entry).strip(), strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"{setting}: {entry!r} is not an IP address or network"
            ) from None
    return tuple(nets)


def ip_allowed(remote_ip: str | None, networks: tuple[Network, ...]) -> bool:
    """True when ``remote_ip`` is inside one of ``networks``."""
    if not remote_ip:
        return False
    try:
        addr = ipaddress.ip_address(remote_ip)
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return any(addr.version == net.version and addr in net for net in networks)


def whitelisted(argument: Any = None) -> Any:
    """Decorate a handler method: clients outside the list get 403. Bare or with a list."""
    if callable(argument):
        return _wrap(argument, None)

    def decorator(method: Callable[..., Any]) -> Callable[..., Any]:
        return _wrap(method, parse_networks(argument) if argument is not None else None)

    return decorator


def _wrap(method: Callable[..., Any], networks: tuple[Network, ...] | None) -> Callable[..., Any]:
    def allowed(handler: Any) -> bool:
        nets = networks if networks is not None else parse_networks(settings.WHITELIST)
        return ip_allowed(handler.request.remote_ip, nets)

    if inspect.iscoroutinefunction(method):

        @functools.wraps(method)
        async def async_wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            if not allowed(self):
                raise HTTPError(403)
            return await method(self, *args, **kwargs)

        return async_wrapper

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not allowed(self):
            raise HTTPError(403)
        return method(self, *args, **kwargs)

    return wrapper
