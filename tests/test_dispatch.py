"""tornadopy.dispatch: Django's dispatcher contract, plus asend/asend_robust for async receivers."""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import warnings

import pytest

from tornadopy.dispatch import Signal, receiver


class Sender:
    pass


class OtherSender:
    pass


def make_recorder(calls: list, name: str, result=None):
    def rec(**kwargs):
        calls.append((name, kwargs))
        return result if result is not None else name

    return rec


# -- connect / send ---------------------------------------------------------------------------


def test_send_with_no_receivers_returns_empty_list():
    sig = Signal()
    assert sig.send(Sender) == []
    assert sig.send_robust(Sender) == []
    assert not sig.has_listeners()


def test_send_passes_signal_sender_and_named_and_returns_pairs():
    sig = Signal()
    calls: list = []
    rec = make_recorder(calls, "a")
    sig.connect(rec)
    responses = sig.send(Sender, x=1, y="two")
    assert responses == [(rec, "a")]
    assert calls == [("a", {"signal": sig, "sender": Sender, "x": 1, "y": "two"})]


def test_receivers_run_in_connection_order():
    sig = Signal()
    calls: list = []
    recs = [make_recorder(calls, str(i)) for i in range(5)]
    for r in recs:
        sig.connect(r)
    responses = sig.send(Sender)
    assert [name for name, _ in calls] == ["0", "1", "2", "3", "4"]
    assert responses == [(r, str(i)) for i, r in enumerate(recs)]


def test_connecting_twice_calls_once():
    sig = Signal()
    calls: list = []
    rec = make_recorder(calls, "a")
    sig.connect(rec)
    sig.connect(rec)
    sig.send(Sender)
    assert len(calls) == 1
    assert len(sig.receivers) == 1


def test_dispatch_uid_deduplicates_different_callables():
    sig = Signal()
    calls: list = []
    first = make_recorder(calls, "first")
    second = make_recorder(calls, "second")
    sig.connect(first, dispatch_uid="uid")
    sig.connect(second, dispatch_uid="uid")
    assert sig.send(Sender) == [(first, "first")]
    assert sig.disconnect(dispatch_uid="uid") is True
    assert sig.send(Sender) == []


def test_disconnect_returns_whether_something_was_removed():
    sig = Signal()
    rec = make_recorder([], "a")
    assert sig.disconnect(rec) is False
    sig.connect(rec)
    assert sig.disconnect(rec) is True
    assert sig.disconnect(rec) is False
    assert sig.send(Sender) == []


def test_disconnect_needs_the_same_sender():
    sig = Signal()
    rec = make_recorder([], "a")
    sig.connect(rec, sender=Sender)
    assert sig.disconnect(rec) is False  # connected for Sender, not for every sender
    assert sig.disconnect(rec, sender=Sender) is True


def test_sender_filtering():
    sig = Signal()
    calls: list = []
    only_sender = make_recorder(calls, "only")
    everyone = make_recorder(calls, "all")
    sig.connect(only_sender, sender=Sender)
    sig.connect(everyone)
    assert sig.send(OtherSender) == [(everyone, "all")]
    assert sig.send(Sender) == [(only_sender, "only"), (everyone, "all")]
    assert sig.has_listeners(Sender)
    assert sig.has_listeners(OtherSender)
    sig.disconnect(everyone)
    assert sig.has_listeners(Sender)
    assert not sig.has_listeners(OtherSender)
    assert sig.send(OtherSender) == []


def test_same_receiver_for_two_senders_is_two_connections():
    sig = Signal()
    calls: list = []
    rec = make_recorder(calls, "a")
    sig.connect(rec, sender=Sender)
    sig.connect(rec, sender=OtherSender)
    sig.send(Sender)
    sig.send(OtherSender)
    assert [kw["sender"] for _, kw in calls] == [Sender, OtherSender]


def test_receiver_must_accept_kwargs_and_be_callable():
    sig = Signal()

    def no_kwargs(sender, signal):
        return None

    with pytest.raises(ValueError, match=r"\*\*kwargs"):
        sig.connect(no_kwargs)
    with pytest.raises(TypeError, match="callable"):
        sig.connect("not a function")
    assert sig.receivers == []


def test_providing_args_is_accepted_and_kept():
    sig = Signal(providing_args=["request", "handler"])
    assert sig.providing_args == frozenset({"request", "handler"})
    rec = make_recorder([], "a")
    sig.connect(rec)
    # not enforced, as in Django
    assert sig.send(Sender, anything=1) == [(rec, "a")]


# -- weak references ----------------------------------------------------------------------------


def test_weak_function_receiver_disappears_when_collected():
    sig = Signal()
    calls: list = []
    rec = make_recorder(calls, "a")
    sig.connect(rec)
    assert sig.has_listeners()
    del rec
    gc.collect()
    assert not sig.has_listeners()
    assert sig.send(Sender) == []
    assert sig.receivers == []  # dead entries are cleaned, not kept forever
    assert calls == []


def test_weak_false_keeps_the_receiver_alive():
    sig = Signal()
    calls: list = []
    sig.connect(lambda **kw: calls.append(kw) or "kept", weak=False)
    gc.collect()
    responses = sig.send(Sender)
    assert [r for _, r in responses] == ["kept"]
    assert len(calls) == 1


def test_weak_lambda_dies_at_once_like_django():
    sig = Signal()
    sig.connect(lambda **kw: "gone")
    gc.collect()
    assert sig.send(Sender) == []


def test_bound_method_is_held_through_weakmethod():
    sig = Signal()

    class Listener:
        def __init__(self):
            self.calls = 0

        def on_signal(self, **kwargs):
            self.calls += 1
            return self.calls

    listener = Listener()
    sig.connect(listener.on_signal)  # a fresh bound-method object: only a WeakMethod keeps it
    gc.collect()
    assert sig.send(Sender) == [(listener.on_signal, 1)]
    # the same object + function is the same receiver
    sig.connect(listener.on_signal)
    assert len(sig.receivers) == 1
    assert sig.disconnect(listener.on_signal) is True
    sig.connect(listener.on_signal)
    del listener
    gc.collect()
    assert sig.send(Sender) == []
    assert not sig.has_listeners()
    assert sig.receivers == []


def test_not_weak_referenceable_receiver_asks_for_weak_false():
    class Slotted:
        __slots__ = ()

        def __call__(self, **kwargs):
            return "slotted"

    sig = Signal()
    obj = Slotted()
    with pytest.raises(TypeError, match="weak=False"):
        sig.connect(obj)
    sig.connect(obj, weak=False)
    assert sig.send(Sender) == [(obj, "slotted")]


def test_new_receiver_after_a_dead_one_is_called():
    # a dead receiver's id may be reused by a new object: the new one must still connect
    sig = Signal()
    calls: list = []
    for i in range(50):
        rec = make_recorder(calls, str(i))
        sig.connect(rec)
        del rec
        gc.collect()
    keep = make_recorder(calls, "keep")
    sig.connect(keep)
    assert sig.send(Sender) == [(keep, "keep")]


# -- errors -------------------------------------------------------------------------------------


class Boom(Exception):
    pass


def failing(**kwargs):
    raise Boom("receiver failed")


def test_send_lets_a_receiver_error_through_and_stops():
    sig = Signal()
    calls: list = []
    after = make_recorder(calls, "after")
    sig.connect(failing)
    sig.connect(after)
    with pytest.raises(Boom):
        sig.send(Sender)
    assert calls == []


def test_send_robust_returns_and_logs_the_error(caplog):
    sig = Signal()
    calls: list = []
    after = make_recorder(calls, "after")
    sig.connect(failing)
    sig.connect(after)
    with caplog.at_level(logging.ERROR, logger="tornadopy.dispatch"):
        responses = sig.send_robust(Sender)
    assert responses[0][0] is failing
    assert isinstance(responses[0][1], Boom)
    assert responses[1] == (after, "after")
    assert len(calls) == 1
    records = [r for r in caplog.records if r.name == "tornadopy.dispatch"]
    assert len(records) == 1
    assert "failing" in records[0].getMessage()
    assert records[0].exc_info is not None and records[0].exc_info[0] is Boom


# -- async receivers ----------------------------------------------------------------------------


async def async_rec(**kwargs):
    await asyncio.sleep(0)
    return ("async", kwargs["sender"])


def test_send_refuses_async_receiver_before_calling_anything():
    sig = Signal()
    calls: list = []
    sync_first = make_recorder(calls, "sync")
    sig.connect(sync_first)
    sig.connect(async_rec)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "coroutine was never awaited"
        with pytest.raises(TypeError, match="asend"):
            sig.send(Sender)
        gc.collect()
    assert calls == []  # nothing half-done


def test_send_robust_reports_async_receiver_as_error_and_calls_the_rest(caplog):
    sig = Signal()
    calls: list = []
    sync_rec = make_recorder(calls, "sync")
    sig.connect(async_rec)
    sig.connect(sync_rec)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with caplog.at_level(logging.ERROR, logger="tornadopy.dispatch"):
            responses = sig.send_robust(Sender)
        gc.collect()
    assert responses[0][0] is async_rec
    assert isinstance(responses[0][1], TypeError)
    assert "asend" in str(responses[0][1])
    assert responses[1] == (sync_rec, "sync")


async def test_asend_awaits_async_and_calls_sync_in_connection_order():
    sig = Signal()
    order: list = []

    async def a1(**kwargs):
        order.append("a1")
        await asyncio.sleep(0.01)
        return "r1"

    def s2(**kwargs):
        order.append("s2")
        return "r2"

    async def a3(**kwargs):
        order.append("a3")
        return kwargs["value"] * 2

    for r in (a1, s2, a3):
        sig.connect(r)
    responses = await sig.asend(Sender, value=21)
    assert responses == [(a1, "r1"), (s2, "r2"), (a3, 42)]
    assert order == ["a1", "s2", "a3"]


async def test_asend_gives_signal_and_sender():
    sig = Signal()
    got: list = []

    async def rec(signal, sender, **kwargs):
        got.append((signal, sender, kwargs))

    sig.connect(rec)
    await sig.asend(Sender, x=1)
    assert got == [(sig, Sender, {"x": 1})]


async def test_asend_lets_error_through_and_stops():
    sig = Signal()
    calls: list = []

    async def afail(**kwargs):
        raise Boom("async receiver failed")

    after = make_recorder(calls, "after")
    sig.connect(afail)
    sig.connect(after)
    with pytest.raises(Boom):
        await sig.asend(Sender)
    assert calls == []


async def test_asend_robust_returns_errors_and_continues(caplog):
    sig = Signal()

    async def afail(**kwargs):
        raise Boom("async receiver failed")

    sig.connect(afail)
    sig.connect(failing)
    sig.connect(async_rec)
    with caplog.at_level(logging.ERROR, logger="tornadopy.dispatch"):
        responses = await sig.asend_robust(Sender)
    assert [r for r, _ in responses] == [afail, failing, async_rec]
    assert isinstance(responses[0][1], Boom)
    assert isinstance(responses[1][1], Boom)
    assert responses[2][1] == ("async", Sender)
    assert len([r for r in caplog.records if r.name == "tornadopy.dispatch"]) == 2


async def test_asend_robust_does_not_swallow_cancellation():
    sig = Signal()

    async def cancelled(**kwargs):
        raise asyncio.CancelledError

    sig.connect(cancelled)
    with pytest.raises(asyncio.CancelledError):
        await sig.asend_robust(Sender)


async def test_async_callable_object_and_partial_are_async_receivers():
    class AsyncCallable:
        async def __call__(self, **kwargs):
            return "object"

    async def with_tag(tag, **kwargs):
        return tag

    sig = Signal()
    obj = AsyncCallable()
    part = functools.partial(with_tag, "partial")
    sig.connect(obj)
    sig.connect(part)
    assert await sig.asend(Sender) == [(obj, "object"), (part, "partial")]
    with pytest.raises(TypeError, match="asend"):
        sig.send(Sender)


async def test_async_bound_method_receiver():
    class Listener:
        async def on(self, **kwargs):
            return "method"

    sig = Signal()
    listener = Listener()
    sig.connect(listener.on)
    assert await sig.asend(Sender) == [(listener.on, "method")]


# -- @receiver ----------------------------------------------------------------------------------


def test_receiver_decorator_connects_and_returns_the_function():
    sig = Signal()

    @receiver(sig)
    def on_sig(**kwargs):
        return "decorated"

    assert callable(on_sig)
    assert sig.send(Sender) == [(on_sig, "decorated")]


def test_receiver_decorator_with_list_and_sender():
    sig1, sig2 = Signal(), Signal()
    calls: list = []

    @receiver([sig1, sig2], sender=Sender)
    def on_both(signal, **kwargs):
        calls.append(signal)

    sig1.send(Sender)
    sig2.send(Sender)
    sig1.send(OtherSender)
    assert calls == [sig1, sig2]


def test_receiver_decorator_dispatch_uid():
    sig = Signal()

    @receiver(sig, dispatch_uid="once")
    def first(**kwargs):
        return 1

    @receiver(sig, dispatch_uid="once")
    def second(**kwargs):
        return 2

    assert sig.send(Sender) == [(first, 1)]


# -- caching ------------------------------------------------------------------------------------


def test_use_caching_stays_correct_across_connect_and_disconnect():
    sig = Signal(use_caching=True)
    calls: list = []
    a = make_recorder(calls, "a")
    b = make_recorder(calls, "b")
    assert sig.send(Sender) == []
    sig.connect(a, sender=Sender)
    assert sig.send(Sender) == [(a, "a")]
    assert sig.send(OtherSender) == []
    sig.connect(b)
    assert sig.send(Sender) == [(a, "a"), (b, "b")]
    assert sig.send(OtherSender) == [(b, "b")]
    assert sig.send(None) == [(b, "b")]  # a None sender cannot be cached, still works
    sig.disconnect(a, sender=Sender)
    assert sig.send(Sender) == [(b, "b")]
    del b
    gc.collect()
    assert sig.send(Sender) == []
    assert not sig.has_listeners(Sender)
