"""What the handlers and the middleware saw, readable through ``/state`` (one worker process)."""

import asyncio

STATE: dict[str, list] = {}
EVENTS: dict[str, asyncio.Event] = {}


def record(key, value):
    STATE.setdefault(key, []).append(value)


def event(token):
    if token not in EVENTS:
        EVENTS[token] = asyncio.Event()
    return EVENTS[token]
