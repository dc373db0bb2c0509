"""Signals (SPEC §14): Django's dispatcher, async-aware.

::

    from tornadopy.dispatch import Signal, receiver

See :mod:`tornadopy.dispatch.dispatcher` for the rules (weak references, ``dispatch_uid``,
``send``/``send_robust`` for plain receivers, ``asend``/``asend_robust`` awaiting async ones).
The request signals sent by :class:`tornadopy.middleware.signal.SignalMiddleware` live in
:mod:`tornadopy.signal`.
"""

from tornadopy.dispatch.dispatcher import Signal, receiver

__all__ = ["Signal", "receiver"]
