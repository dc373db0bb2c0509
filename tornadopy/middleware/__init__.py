"""The middleware engine (SPEC §7).

A middleware is any class named in ``MIDDLEWARE_CLASSES``, instantiated once, defining any of::

    async def process_init(self, application): ...                # once, at start
    async def process_call(self, request, clear): ...             # before routing
    async def process_request(self, handler, clear): ...          # route matched, before get/post
    async def process_render(self, handler, clear, template_name, **kwargs): ...
    async def process_response(self, handler, clear, chunk): ...  # before bytes go out
    async def process_endcall(self, handler, clear): ...          # after the response is sent
    async def process_exception(self, handler, clear, typ, value, tb): ...
    async def process_shutdown(self, application): ...            # graceful shutdown

Each hook may be ``async def`` or a plain ``def`` (a plain hook may also return an awaitable,
which is awaited). ``init``, ``call`` and ``request`` run in declaration order; the others in
reverse order. A truthy return value stops the remaining hooks *of that phase*; calling
``clear()`` drops every remaining hook of the request, in all phases.

The hook lists are built once, when the :class:`MiddlewareManager` is created: a middleware that
lacks a hook (or sets it to ``None``) costs nothing in that phase.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable, Iterable, Sequence
from types import CoroutineType
from typing import Any

from tornadopy.exception import ImproperlyConfigured
from tornadopy.importer import import_object

FORWARD_PHASES = ("process_init", "process_call", "process_request")
REVERSE_PHASES = (
    "process_render",
    "process_response",
    "process_endcall",
    "process_exception",
    "process_shutdown",
)
PHASES = FORWARD_PHASES + REVERSE_PHASES

Hook = Callable[..., Any]


class Clear:
    """The ``clear`` callable handed to hooks: calling it drops every remaining hook of a request."""

    __slots__ = ("cleared",)

    def __init__(self) -> None:
        self.cleared = False

    def __call__(self) -> None:
        self.cleared = True


def _may_await(hook: Hook) -> bool:
    """False for a hook that says it returns None (``-> None``) and is not ``async def``."""
    if inspect.iscoroutinefunction(hook):
        return True
    annotations = getattr(hook, "__annotations__", None) or {}
    return annotations.get("return", "?") not in (None, "None")


def handler_ref(handler: Any) -> Any:
    """``handler`` for an object a middleware hangs on it (``handler.session``, ``handler.token``)
    to keep: a weak proxy, so that the two do not form a reference cycle.

    With a cycle, a finished request's handler, request, connection and everything they hold
    wait for the cyclic garbage collector instead of being freed at once; at 64 concurrent
    requests a Redis session request ran at 0.68x raw Tornado with the cycle, 0.93x without
    (``benchmarks/README.md``, "Reference cycles"). An object that cannot be weakly referenced (a
    stand-in in a test) is returned as it is.
    """
    try:
        return weakref.proxy(handler)
    except TypeError:
        return handler


async def run_hooks(hooks: Sequence[Hook], clear: Clear, *args: Any, **kwargs: Any) -> bool:
    """Run ``hooks`` in order with ``args``; True when one returned a truthy value.

    A hook that raises ends the phase: the exception propagates to the caller. ``clear()`` stops
    the loop before the next hook.
    """
    for hook in hooks:
        if clear.cleared:
            return False
        result = hook(*args, **kwargs)
        if result is not None:
            if result.__class__ is CoroutineType or hasattr(result, "__await__"):
                result = await result
            if result:
                return True
    return False


def run_sync(
    hooks: Sequence[Hook], clear: Clear, *args: Any, **kwargs: Any
) -> tuple[Any, Sequence[Hook]] | None:
    """Run ``hooks`` for as long as they answer synchronously (sync-first phases).

    Returns None when the phase is over -- every hook ran, one returned a truthy value, or
    ``clear()`` was called -- without creating a coroutine. When a hook returns an awaitable,
    returns ``(awaitable, rest)``: the caller awaits it (a truthy result ends the phase) and
    then runs the hooks of ``rest`` the same way, from a coroutine. Plain ``def`` hooks (every
    shipped middleware) therefore cost a call each and no coroutine; a hook that raises ends
    the phase and the exception propagates. The caller runs the rest in a Task
    (:func:`tornadopy.eager.start`, or the handler's own Task after Tornado's auto-finish)
    before the awaitable is first stepped.
    """
    for index, hook in enumerate(hooks):
        if clear.cleared:
            return None
        result = hook(*args, **kwargs)
        if result is not None:
            if result.__class__ is CoroutineType or hasattr(result, "__await__"):
                return result, hooks[index + 1 :]
            if result:
                return None
    return None


class MiddlewareManager:
    """The instantiated ``MIDDLEWARE_CLASSES`` and one tuple of bound hooks per phase."""

    init: tuple[Hook, ...]
    call: tuple[Hook, ...]
    request: tuple[Hook, ...]
    render: tuple[Hook, ...]
    response: tuple[Hook, ...]
    endcall: tuple[Hook, ...]
    exception: tuple[Hook, ...]
    shutdown: tuple[Hook, ...]
    tail_may_await: bool

    def __init__(self, classes: Iterable[str | type | object] = ()) -> None:
        self.instances: list[object] = [self._instantiate(c) for c in classes]
        for phase in PHASES:
            hooks = [h for h in (getattr(m, phase, None) for m in self.instances) if h is not None]
            if phase in REVERSE_PHASES:
                hooks.reverse()
            setattr(self, phase[len("process_") :], tuple(hooks))
        #: a response or end hook may return an awaitable: the handler then runs the async rest
        #: of those phases in its own Task (``WebHandler._tp_execute``); hooks annotated
        #: ``-> None`` (every shipped synchronous one) never make it pay for that
        self.tail_may_await = any(_may_await(h) for h in (*self.response, *self.endcall))

    @staticmethod
    def _instantiate(entry: str | type | object) -> object:
        if isinstance(entry, str):
            cls = import_object(entry, setting="MIDDLEWARE_CLASSES")
        else:
            cls = entry
        if not isinstance(cls, type):
            return cls  # an instance given directly (tests, embedding)
        try:
            return cls()
        except ImproperlyConfigured:
            raise
        except TypeError as exc:
            raise ImproperlyConfigured(
                f"MIDDLEWARE_CLASSES: {cls.__module__}.{cls.__qualname__} cannot be instantiated "
                f"without arguments ({exc})"
            ) from exc

    def find(self, cls: type) -> Any:
        """The installed instance of ``cls`` (or a subclass), or None."""
        for m in self.instances:
            if isinstance(m, cls):
                return m
        return None

    def __bool__(self) -> bool:
        return bool(self.instances)


EMPTY = MiddlewareManager()
