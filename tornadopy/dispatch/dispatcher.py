"""Django-style signals: many senders, many receivers, weak references by default.

::

    from tornadopy.dispatch import Signal, receiver

    order_paid = Signal()

    @receiver(order_paid, sender=Order)
    async def email_receipt(sender, order, **kwargs): ...

    await order_paid.asend(sender=Order, order=order)      # -> [(email_receipt, None)]

Rules (those of Django's dispatcher unless stated):

- A receiver is a callable accepting keyword arguments (``**kwargs``). It is called with
  ``signal=<the Signal>``, ``sender=<the sender>`` and the named arguments of the send.
- ``connect(receiver, sender=None, weak=True, dispatch_uid=None)``: ``sender=None`` receives from
  every sender, otherwise only sends whose ``sender`` *is* that object. With ``weak=True`` the
  signal holds a weak reference (bound methods through :class:`weakref.WeakMethod`); a receiver
  that is garbage collected is dropped by itself, so a lambda or nested function connected weakly
  disappears as soon as nothing else holds it -- pass ``weak=False`` for those. A second connect
  of the same receiver (or of the same ``dispatch_uid``) for the same sender is ignored.
- ``send(sender, **named)`` calls the receivers one after another in connection order and returns
  ``[(receiver, response), ...]``; a receiver's exception propagates and the later receivers are
  not called. ``send_robust`` catches each :class:`Exception`, logs it (logger
  ``tornadopy.dispatch``, with traceback) and returns it as that receiver's response.
- ``await asend(sender, **named)`` / ``await asend_robust(...)`` do the same from a coroutine and
  also await *async receivers* (coroutine functions, or objects whose ``__call__`` is one). Plain
  receivers are called directly on the event loop (keep them quick). Receivers still run one
  after another in connection order -- unlike Django 5, which gathers async receivers
  concurrently -- so ``asend`` behaves exactly like ``send`` with awaits added, and the responses
  come back in connection order.
- **An async receiver under the synchronous ``send``**: there is no ``async_to_sync`` in an event
  loop, so ``send`` refuses: it raises :class:`TypeError` naming the receiver and telling to use
  ``asend`` *before calling any receiver* (nothing half-done); ``send_robust`` returns that
  ``TypeError`` as the async receiver's response and still calls the plain ones. Async receivers
  are never skipped silently and no coroutine is left un-awaited.
- ``has_listeners(sender=None)`` is cheap (an empty signal answers without any work); hot paths
  call it before building arguments for a send.
"""

from __future__ import annotations

import inspect
import logging
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, TypeVar

__all__ = ["Signal", "receiver"]

logger = logging.getLogger("tornadopy.dispatch")

Receiver = Callable[..., Any]
F = TypeVar("F", bound=Callable[..., Any])

# A lookup key: (dispatch_uid or receiver identity, sender identity).
LookupKey = tuple[Any, int]


def _make_id(target: Any) -> Any:
    """Identity of ``target``; a bound method is identified by (its object, its function)."""
    if hasattr(target, "__func__") and hasattr(target, "__self__"):
        return (id(target.__self__), id(target.__func__))
    return id(target)


_NONE_ID = _make_id(None)


def _is_async(receiver: Receiver) -> bool:
    """True for coroutine functions (also partials of them) and objects with ``async __call__``."""
    if inspect.iscoroutinefunction(receiver):
        return True
    if inspect.isroutine(receiver) or isinstance(receiver, type):
        return False
    # an instance whose class defines ``async def __call__``
    return inspect.iscoroutinefunction(type(receiver).__call__)


def _accepts_kwargs(func: Receiver) -> bool:
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):  # builtins and the like: cannot tell, let it through
        return True
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def _label(receiver: Receiver) -> str:
    name = getattr(receiver, "__qualname__", None) or repr(receiver)
    module = getattr(receiver, "__module__", None)
    return f"{module}.{name}" if module else name


class _Entry(NamedTuple):
    key: LookupKey
    ref: Any  # the receiver itself (strong) or a weak reference to it
    weak: bool
    is_async: bool


class Signal:
    """A point where receivers can subscribe and senders announce something happened.

    ``providing_args`` is accepted and kept (as :attr:`providing_args`) for code written for the
    original framework and old Django; like Django, nothing checks it. ``use_caching=True``
    remembers the receivers per sender (senders must then be weak-referenceable and hashable);
    the cache is cleared on every connect/disconnect.
    """

    def __init__(
        self, providing_args: Iterable[str] | None = None, use_caching: bool = False
    ) -> None:
        self.providing_args: frozenset[str] = frozenset(providing_args or ())
        self.receivers: list[_Entry] = []
        self.use_caching = use_caching
        self._cache: weakref.WeakKeyDictionary[Any, list[_Entry]] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        self._dead_receivers = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} with {len(self.receivers)} receiver(s)>"

    # -- subscription ----------------------------------------------------------------------

    def connect(
        self,
        receiver: Receiver,
        sender: Any = None,
        weak: bool = True,
        dispatch_uid: Any = None,
    ) -> None:
        """Subscribe ``receiver`` to this signal (from ``sender`` only, when given).

        Raises :class:`TypeError` when ``receiver`` is not callable or cannot be weakly referenced
        with ``weak=True``, and :class:`ValueError` when it does not accept ``**kwargs``.
        """
        if not callable(receiver):
            raise TypeError(f"Signal receivers must be callable, got {receiver!r}")
        if not _accepts_kwargs(receiver):
            raise ValueError(
                f"Signal receiver {_label(receiver)} must accept keyword arguments (**kwargs)"
            )
        key: LookupKey = (
            dispatch_uid if dispatch_uid is not None else _make_id(receiver),
            _make_id(sender),
        )
        is_async = _is_async(receiver)
        ref: Any = receiver
        if weak:
            try:
                if inspect.ismethod(receiver):
                    ref = weakref.WeakMethod(receiver, self._flag_dead)
                else:
                    ref = weakref.ref(receiver, self._flag_dead)
            except TypeError:
                raise TypeError(
                    f"cannot keep a weak reference to receiver {receiver!r}; "
                    "connect it with weak=False"
                ) from None
        with self._lock:
            self._clear_dead_receivers()
            if not any(entry.key == key for entry in self.receivers):
                # copy-on-write: a send iterating the old list in another thread is unaffected
                self.receivers = [*self.receivers, _Entry(key, ref, weak, is_async)]
                self._cache.clear()

    def disconnect(
        self, receiver: Receiver | None = None, sender: Any = None, dispatch_uid: Any = None
    ) -> bool:
        """Unsubscribe the receiver connected with this ``receiver``/``dispatch_uid`` and ``sender``.

        Returns whether one was connected (and is now removed).
        """
        key: LookupKey = (
            dispatch_uid if dispatch_uid is not None else _make_id(receiver),
            _make_id(sender),
        )
        with self._lock:
            self._clear_dead_receivers()
            for index, entry in enumerate(self.receivers):
                if entry.key == key:
                    self.receivers = self.receivers[:index] + self.receivers[index + 1 :]
                    self._cache.clear()
                    return True
        return False

    def has_listeners(self, sender: Any = None) -> bool:
        """Whether a send from ``sender`` would reach any receiver (cheap when none is connected)."""
        if not self.receivers:
            return False
        return bool(self._live_receivers(sender))

    # -- sending ----------------------------------------------------------------------------

    def send(self, sender: Any, **named: Any) -> list[tuple[Receiver, Any]]:
        """Call every receiver for ``sender``; a receiver's error propagates.

        Raises :class:`TypeError` (before calling anything) when an async receiver is connected
        for this sender: use :meth:`asend` from a coroutine.
        """
        if not self.receivers:
            return []
        live = self._live_receivers(sender)
        for func, is_async in live:
            if is_async:
                raise TypeError(self._async_in_send(func))
        return [(func, func(signal=self, sender=sender, **named)) for func, _ in live]

    def send_robust(self, sender: Any, **named: Any) -> list[tuple[Receiver, Any]]:
        """Like :meth:`send`, but each receiver's :class:`Exception` is logged and returned as its
        response (an async receiver gets a :class:`TypeError` response: use :meth:`asend_robust`).
        """
        if not self.receivers:
            return []
        responses: list[tuple[Receiver, Any]] = []
        for func, is_async in self._live_receivers(sender):
            try:
                if is_async:
                    raise TypeError(self._async_in_send(func))
                response = func(signal=self, sender=sender, **named)
            except Exception as err:
                self._log_robust(func, err, "send_robust")
                response = err
            responses.append((func, response))
        return responses

    async def asend(self, sender: Any, **named: Any) -> list[tuple[Receiver, Any]]:
        """Call (or await, for async receivers) every receiver in connection order.

        A receiver's error propagates; later receivers are not called.
        """
        if not self.receivers:
            return []
        responses: list[tuple[Receiver, Any]] = []
        for func, is_async in self._live_receivers(sender):
            response = func(signal=self, sender=sender, **named)
            if is_async:
                response = await response
            responses.append((func, response))
        return responses

    async def asend_robust(self, sender: Any, **named: Any) -> list[tuple[Receiver, Any]]:
        """Like :meth:`asend`, but each receiver's :class:`Exception` is logged and returned as its
        response. Cancellation (not an ``Exception``) still propagates.
        """
        if not self.receivers:
            return []
        responses: list[tuple[Receiver, Any]] = []
        for func, is_async in self._live_receivers(sender):
            try:
                response = func(signal=self, sender=sender, **named)
                if is_async:
                    response = await response
            except Exception as err:
                self._log_robust(func, err, "asend_robust")
                response = err
            responses.append((func, response))
        return responses

    # -- internals --------------------------------------------------------------------------

    def _live_receivers(self, sender: Any) -> list[tuple[Receiver, bool]]:
        """The receivers (resolved from weak references) for ``sender``, in connection order."""
        if self._dead_receivers:
            with self._lock:
                self._clear_dead_receivers()
        entries: list[_Entry] | None = None
        if self.use_caching:
            try:
                entries = self._cache.get(sender)
            except TypeError:  # None, or a sender that cannot be weakly referenced
                pass
        if entries is None:
            sender_id = _make_id(sender)
            entries = [e for e in self.receivers if e.key[1] == _NONE_ID or e.key[1] == sender_id]
            if self.use_caching:
                try:
                    self._cache[sender] = entries
                except TypeError:
                    pass
        live: list[tuple[Receiver, bool]] = []
        for entry in entries:
            func = entry.ref() if entry.weak else entry.ref
            if func is not None:
                live.append((func, entry.is_async))
        return live

    def _flag_dead(self, _ref: Any = None) -> None:
        # Called by the garbage collector when a weakly held receiver dies: mark for cleanup
        # (done under the lock at the next connect/disconnect/send).
        self._dead_receivers = True

    def _clear_dead_receivers(self) -> None:
        # caller holds self._lock
        if self._dead_receivers:
            self._dead_receivers = False
            self.receivers = [e for e in self.receivers if not e.weak or e.ref() is not None]
            self._cache.clear()

    def _async_in_send(self, func: Receiver) -> str:
        return (
            f"receiver {_label(func)} is a coroutine function: Signal.send() cannot call it; "
            "send this signal with 'await signal.asend(...)' (or asend_robust)"
        )

    def _log_robust(self, func: Receiver, err: Exception, method: str) -> None:
        logger.error(
            "Error calling %s in Signal.%s() (%s)", _label(func), method, err, exc_info=err
        )


def receiver(signal: Signal | Iterable[Signal], **kwargs: Any) -> Callable[[F], F]:
    """Decorator connecting the function to ``signal`` (or to each signal of a list/tuple).

    ``kwargs`` are those of :meth:`Signal.connect` (``sender``, ``weak``, ``dispatch_uid``)::

        @receiver(handler_started, sender=HomeHandler)
        def on_home(sender, handler, **kwargs): ...
    """

    def decorator(func: F) -> F:
        signals = [signal] if isinstance(signal, Signal) else list(signal)
        for sig in signals:
            sig.connect(func, **kwargs)
        return func

    return decorator
