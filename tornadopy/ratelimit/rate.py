"""``Rate``: "how many requests per how long", parsed once from ``'5/minute'``-style text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tornadopy.exception import ImproperlyConfigured

__all__ = ["Rate"]

_UNITS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)?\s*([a-z]+)\s*$")


@dataclass(frozen=True, slots=True)
class Rate:
    """``limit`` requests in any window of ``seconds`` seconds."""

    limit: int
    seconds: float

    @property
    def window_ms(self) -> int:
        return max(1, round(self.seconds * 1000))

    def __str__(self) -> str:
        seconds = int(self.seconds) if float(self.seconds).is_integer() else self.seconds
        return f"{self.limit}/{seconds}s"

    @classmethod
    def parse(cls, value: Any, setting: str = "rate") -> Rate:
        """``'5/minute'``, ``'100/hour'``, ``'10/30s'``, ``'1000/day'``, or ``(limit, seconds)``.

        Units: ``s``/``sec``/``second``, ``m``/``min``/``minute``, ``h``/``hour``,
        ``d``/``day`` (plurals too), optionally preceded by a count (``'5/10m'``).
        """
        if isinstance(value, Rate):
            return value
        if isinstance(value, tuple | list) and len(value) == 2:
            limit, seconds = value
        elif isinstance(value, str):
            match = _RATE.match(value.lower())
            if match is None or match.group(3) not in _UNITS:
                raise ImproperlyConfigured(
                    f"{setting} = {value!r} is not a rate: write '<count>/<period>', e.g. "
                    "'5/minute', '100/hour', '10/30s' or '1000/day'"
                )
            limit = int(match.group(1))
            seconds = float(match.group(2) or 1) * _UNITS[match.group(3)]
        else:
            raise ImproperlyConfigured(
                f"{setting} = {value!r} is not a rate: give '5/minute' or (limit, seconds)"
            )
        if (
            isinstance(limit, bool)
            or not isinstance(limit, int)
            or limit < 1
            or isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or seconds <= 0
        ):
            raise ImproperlyConfigured(
                f"{setting} = {value!r}: the count must be an integer >= 1 and the period > 0 s"
            )
        return cls(limit, float(seconds))
