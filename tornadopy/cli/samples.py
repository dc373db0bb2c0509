"""A request path that a route pattern matches, to see which ``ROUTE_MODULES`` regexes apply.

``ROUTE_MODULES`` regex keys are searched in the *request path*, so ``tornadopy routes`` needs
concrete paths per route. :func:`sample_paths` gives up to two: one with every optional part
present once (``/blog/?`` gives ``/blog/``), one with them left out (``/blog``); a capture group
holds one character either way (``/hello/(?P<name>\\w+)/?`` gives ``/hello/x/`` and
``/hello/x``, ``/item/(\\d+)`` gives ``/item/1``). Each is checked against the pattern; a
pattern this cannot produce a match for gives none.
"""

from __future__ import annotations

import re
from typing import Any

try:  # the standard library's regex parser (``sre_parse`` before Python 3.11)
    import re._parser as _sre_parse  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - Python < 3.11 is not supported anyway
    import sre_parse as _sre_parse  # type: ignore[no-redef,unused-ignore]

_CATEGORY = {
    "CATEGORY_DIGIT": "1",
    "CATEGORY_NOT_DIGIT": "x",
    "CATEGORY_WORD": "x",
    "CATEGORY_NOT_WORD": "-",
    "CATEGORY_SPACE": " ",
    "CATEGORY_NOT_SPACE": "x",
}


def _name(op: Any) -> str:
    return getattr(op, "name", str(op))


def _char_of_set(items: list[tuple[Any, Any]]) -> str:
    if items and _name(items[0][0]) == "NEGATE":
        excluded = {chr(v) for op, v in items[1:] if _name(op) == "LITERAL"}
        return next(c for c in "x1-_" if c not in excluded)
    for op, value in items:
        kind = _name(op)
        if kind == "LITERAL":
            return chr(value)
        if kind == "RANGE":
            return chr(value[0])
        if kind == "CATEGORY" and _name(value) in _CATEGORY:
            return _CATEGORY[_name(value)]
    raise ValueError("unsupported character set")


def _generate(items: Any, in_group: bool, optional: bool) -> str:
    out: list[str] = []
    for op, value in items:
        kind = _name(op)
        if kind == "LITERAL":
            out.append(chr(value))
        elif kind == "NOT_LITERAL":
            out.append("x" if chr(value) != "x" else "y")
        elif kind == "ANY":
            out.append("x")
        elif kind == "IN":
            out.append(_char_of_set(value))
        elif kind == "BRANCH":
            out.append(_generate(value[1][0], in_group, optional))
        elif kind == "SUBPATTERN":
            group, pattern = value[0], value[-1]
            out.append(_generate(pattern, in_group or group is not None, optional))
        elif kind in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, pattern = value
            count = low or (1 if (in_group or optional) and high else 0)
            out.append(_generate(pattern, in_group, optional) * count)
        elif kind in ("AT", "ASSERT", "ASSERT_NOT"):
            continue
        else:
            raise ValueError(f"unsupported regex element {kind}")
    return "".join(out)


def sample_paths(pattern: str) -> list[str]:
    """Paths ``pattern`` (a Tornado route regex, matched from the start to ``$``) matches: with
    its optional parts, then without them (when that differs)."""
    regex = pattern if pattern.endswith("$") else pattern + "$"
    found: list[str] = []
    for optional in (True, False):
        try:
            candidate = _generate(_sre_parse.parse(pattern), in_group=False, optional=optional)
        except (ValueError, TypeError, StopIteration, re.error):
            continue
        candidates = [candidate] if candidate.startswith("/") else ["/" + candidate, candidate]
        try:
            path = next((c for c in candidates if re.match(regex, c)), None)
        except re.error:
            return found
        if path is not None and path not in found:
            found.append(path)
    return found
