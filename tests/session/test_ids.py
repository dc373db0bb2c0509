"""Signed ids (sessions and tokens): shape, entropy source, tamper refusal, uniqueness (S3, S6)."""

import base64
import multiprocessing
import secrets

import pytest

from tornadopy.session import ids as ids_module
from tornadopy.session.ids import BadId, SignedIds

KEY = "k" * 32


def make(**kw):
    return SignedIds(
        kw.pop("purpose", "session"), kw.pop("key", KEY), kw.pop("version", "v1"), **kw
    )


def test_new_id_verifies_and_returns_its_random_part():
    ids = make()
    signed, rand = ids.new()
    assert ids.verify(signed) == rand
    assert len(signed) == ids.max_length
    assert ids.id_for(rand) == signed


@pytest.mark.parametrize("nbytes,bits", [(16, 128), (24, 192), (32, 256)])
def test_random_part_carries_the_requested_entropy(nbytes, bits):
    _, rand = make(random_bytes=nbytes).new()
    raw = base64.urlsafe_b64decode(rand + "=" * (-len(rand) % 4))
    assert len(raw) * 8 == bits


def test_fewer_than_128_bits_is_refused():
    with pytest.raises(ValueError, match="128"):
        make(random_bytes=15)


def test_random_part_comes_from_secrets(monkeypatch):
    calls = []
    real = secrets.token_bytes

    def spy(n):
        calls.append(n)
        return real(n)

    monkeypatch.setattr(ids_module.secrets, "token_bytes", spy)
    make(random_bytes=24).new()
    make(purpose="token", random_bytes=32).new()
    assert calls == [24, 32]


def _tampered(signed):
    tag, rand, sig = signed.split(".")
    flip = {"A": "B"}.get(sig[5], "A")
    return {
        "sig flipped": f"{tag}.{rand}.{sig[:5]}{flip}{sig[6:]}",
        "rand flipped": f"{tag}.{rand[:-2]}{'x' if rand[-2] != 'x' else 'y'}{rand[-1]}.{sig}",
        "sig truncated": f"{tag}.{rand}.{sig[:-1]}",
        "sig extended": f"{tag}.{rand}.{sig}A",
        "rand truncated": f"{tag}.{rand[:-1]}.{sig}",
        "no signature": f"{tag}.{rand}",
        "extra field": f"{signed}.x",
        "swapped": f"{tag}.{sig}.{rand}",
    }


@pytest.mark.parametrize("case", list(_tampered(make().new()[0])))
def test_tampered_ids_are_refused(case):
    ids = make()
    signed, _ = ids.new()
    with pytest.raises(BadId):
        ids.verify(_tampered(signed)[case])


def test_wrong_version_key_or_purpose_is_refused():
    ids = make()
    signed, _ = ids.new()
    with pytest.raises(BadId, match="foreign version"):
        make(version="v2").verify(signed)
    with pytest.raises(BadId, match="bad signature"):
        make(key="other-key").verify(signed)
    with pytest.raises(BadId, match="bad signature"):
        make(purpose="token").verify(signed)
    # an id re-tagged with the right version but signed for another one
    other, _ = make(version="v2").new()
    retagged = ids.new()[0].split(".")[0] + "." + ".".join(other.split(".")[1:])
    with pytest.raises(BadId, match="bad signature"):
        ids.verify(retagged)


GARBAGE = [
    "",
    "7charsX",
    "a" * 5000,
    "a/b",
    "a\\b",
    "\x00\x01\x1f",
    "a.b.c",
    "..",
    "é.ü.ß",
    "x" * 200 + "." + "y" * 200,
    None,
    12345,
    b"bytes",
]


@pytest.mark.parametrize("value", GARBAGE, ids=[repr(g)[:20] for g in GARBAGE])
def test_garbage_is_refused(value):
    with pytest.raises(BadId):
        make().verify(value)


def test_empty_version_works():
    ids = make(version="")
    signed, rand = ids.new()
    assert signed.startswith(".")
    assert ids.verify(signed) == rand
    with pytest.raises(BadId):
        make(version="x").verify(signed)


def test_1m_ids_in_process_are_unique():
    """RELIABILITY S6: one million ids, no duplicate."""
    ids = make()
    seen = {ids.new()[1] for _ in range(1_000_000)}
    assert len(seen) == 1_000_000


def _child(n):
    ids = make()
    return [ids.new()[1] for _ in range(n)]


def test_ids_from_forked_processes_do_not_collide():
    ctx = multiprocessing.get_context("fork")
    parent = _child(20_000)
    with ctx.Pool(4) as pool:
        results = pool.map(_child, [20_000] * 4)
    everything = parent + [r for chunk in results for r in chunk]
    assert len(everything) == 100_000
    assert len(set(everything)) == len(everything)
