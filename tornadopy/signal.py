"""The request signals, sent by :class:`tornadopy.middleware.signal.SignalMiddleware`.

Add ``'tornadopy.middleware.signal.SignalMiddleware'`` to ``MIDDLEWARE_CLASSES`` and connect
receivers (plain or ``async def``; they are awaited)::

    from tornadopy.dispatch import receiver
    from tornadopy.signal import call_started, handler_render

    @receiver(call_started)
    async def on_call(sender, request, **kwargs): ...

    def on_render(sender, handler, template_name, kwargs, **extra): ...
    handler_render.connect(on_render)

Each signal, the hook that sends it, its ``sender`` and its named arguments:

- ``call_started`` -- ``process_call``, before routing; sender: the request's class;
  ``request``.
- ``handler_started`` -- ``process_request``, route matched, before ``get``/``post``; sender: the
  handler's class; ``handler``.
- ``handler_render`` -- ``process_render``, when the handler renders a template; sender: the
  handler's class; ``handler``, ``template_name``, ``kwargs``.
- ``handler_response`` -- ``process_response``, before the bytes go out; sender: the handler's
  class; ``handler``, ``chunk``.
- ``call_finished`` -- ``process_endcall``, after the response was sent; sender: the handler's
  class; ``handler``.

Every receiver also gets ``signal``. ``kwargs`` of ``handler_render`` is the dict of template
arguments given to ``render``; ``chunk`` of ``handler_response`` is the list of byte chunks about
to be sent (a receiver may replace items, as a ``process_response`` hook may).
"""

from __future__ import annotations

from tornadopy.dispatch import Signal

__all__ = ["call_finished", "call_started", "handler_render", "handler_response", "handler_started"]

call_started = Signal(providing_args=["request"])
handler_started = Signal(providing_args=["handler"])
handler_response = Signal(providing_args=["handler", "chunk"])
call_finished = Signal(providing_args=["handler"])
handler_render = Signal(providing_args=["handler", "template_name", "kwargs"])
