"""``SignalMiddleware``: sends the request signals of :mod:`tornadopy.signal`.

Enable it with ``MIDDLEWARE_CLASSES = [..., 'tornadopy.middleware.signal.SignalMiddleware']``.
Each hook sends one signal with :meth:`~tornadopy.dispatch.Signal.asend`, so async receivers are
awaited and plain ones called; every receiver gets ``signal`` and ``sender`` plus:

- ``process_call(request, clear)`` sends ``call_started(sender=type(request), request=request)``;
- ``process_request(handler, clear)`` sends ``handler_started(sender=type(handler), handler=handler)``;
- ``process_render(handler, clear, template_name, **kwargs)`` sends
  ``handler_render(sender=type(handler), handler=handler, template_name=template_name,
  kwargs=kwargs)`` -- ``kwargs`` is the dict of template arguments, passed as one argument (as
  in the original framework) so template names cannot collide with ``signal``/``sender``;
- ``process_response(handler, clear, chunk)`` sends
  ``handler_response(sender=type(handler), handler=handler, chunk=chunk)``;
- ``process_endcall(handler, clear)`` sends ``call_finished(sender=type(handler), handler=handler)``.

Cost: each hook is a plain ``def``. With no receiver for that sender it returns ``None`` at once
(no coroutine is created); otherwise it returns an awaitable that sends the signal and resolves
to ``None``. The hooks never return anything truthy, so they never stop a phase for the other
middlewares.

Errors: a receiver's exception propagates out of the hook and is handled as the error of that
hook (SPEC §7: ``process_exception`` hooks, then a 500; logged for ``process_endcall``), like
Django's ``request_started``. Make a receiver catch its own errors if it must never fail a
request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from tornadopy.dispatch import Signal
from tornadopy.signal import (
    call_finished,
    call_started,
    handler_render,
    handler_response,
    handler_started,
)

__all__ = ["SignalMiddleware"]


async def _send(signal: Signal, sender: Any, named: dict[str, Any]) -> None:
    await signal.asend(sender, **named)


class SignalMiddleware:
    """Sends ``call_started``, ``handler_started``, ``handler_render``, ``handler_response`` and
    ``call_finished`` from the matching middleware hooks (see the module docstring)."""

    def process_call(self, request: Any, clear: Callable[[], None]) -> Awaitable[None] | None:
        """Before routing: ``call_started(sender=type(request), request=request)``."""
        sender = type(request)
        if not call_started.has_listeners(sender):
            return None
        return _send(call_started, sender, {"request": request})

    def process_request(self, handler: Any, clear: Callable[[], None]) -> Awaitable[None] | None:
        """Route matched, before ``get``/``post``: ``handler_started(handler=handler)``."""
        sender = type(handler)
        if not handler_started.has_listeners(sender):
            return None
        return _send(handler_started, sender, {"handler": handler})

    def process_render(
        self, handler: Any, clear: Callable[[], None], template_name: str, **kwargs: Any
    ) -> Awaitable[None] | None:
        """Rendering a template: ``handler_render(handler=, template_name=, kwargs=)``."""
        sender = type(handler)
        if not handler_render.has_listeners(sender):
            return None
        named = {"handler": handler, "template_name": template_name, "kwargs": kwargs}
        return _send(handler_render, sender, named)

    def process_response(
        self, handler: Any, clear: Callable[[], None], chunk: list[bytes]
    ) -> Awaitable[None] | None:
        """Before the bytes go out: ``handler_response(handler=handler, chunk=chunk)``."""
        sender = type(handler)
        if not handler_response.has_listeners(sender):
            return None
        return _send(handler_response, sender, {"handler": handler, "chunk": chunk})

    def process_endcall(self, handler: Any, clear: Callable[[], None]) -> Awaitable[None] | None:
        """After the response was sent: ``call_finished(sender=type(handler), handler=handler)``."""
        sender = type(handler)
        if not call_finished.has_listeners(sender):
            return None
        return _send(call_finished, sender, {"handler": handler})
