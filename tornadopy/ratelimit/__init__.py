"""Rate limiting (issue 8): an HTTP module counting requests in Redis, per client, per route.

::

    class LoginLimit(RateLimitModule):
        rate = '5/minute'
        key = 'ip'
        cache_alias = 'default_redis'

    ROUTE_MODULES = {'Login': ['myapp.limits.LoginLimit']}

See :mod:`tornadopy.ratelimit.module` for every option, :mod:`tornadopy.ratelimit.keys` for the
key functions and :mod:`tornadopy.ratelimit.window` for the algorithm (an exact sliding window:
a sorted set per client and one atomic Lua call per request). Refused requests get ``429`` with
``Retry-After``; the budget is shared by every process and host using the same Redis.
"""

from tornadopy.ratelimit.keys import by_ip, by_session, by_token_user, by_user
from tornadopy.ratelimit.module import RateLimitModule, rate_limit
from tornadopy.ratelimit.rate import Rate
from tornadopy.ratelimit.window import Decision, SlidingWindow

__all__ = [
    "Decision",
    "Rate",
    "RateLimitModule",
    "SlidingWindow",
    "by_ip",
    "by_session",
    "by_token_user",
    "by_user",
    "rate_limit",
]
