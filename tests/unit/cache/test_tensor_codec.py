"""Cached encoder outputs: exact round trips; anything else is `CorruptValue`, never a crash."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.cache.codec import CorruptValue
from service.cache.tensor_codec import DTYPES, EncoderEntry, decode_entry, encode_entry

REVISION = "sha256:" + "ab" * 32


@st.composite
def entries(draw: st.DrawFn) -> EncoderEntry:
    dtype = draw(st.sampled_from(sorted(DTYPES)))
    shape = tuple(draw(st.lists(st.integers(0, 12), min_size=1, max_size=3)))
    size = math.prod(shape) * DTYPES[dtype][1]
    payload = draw(st.binary(min_size=size, max_size=size))
    revision = draw(st.one_of(st.just(REVISION), st.text(max_size=40)))
    seconds = draw(st.floats(0, 1e6, allow_nan=False))
    return EncoderEntry(dtype, shape, revision, seconds, payload)


@given(entries())
def test_round_trip_is_exact(entry: EncoderEntry) -> None:
    assert decode_entry(encode_entry(entry)) == entry


@given(st.binary(max_size=300))
def test_random_bytes_are_corrupt_or_exactly_a_value_we_wrote(data: bytes) -> None:
    try:
        decoded = decode_entry(data)
    except CorruptValue:
        return
    assert encode_entry(decoded) == data


@given(entries(), st.data())
def test_every_truncation_and_every_extra_byte_is_corrupt(
    entry: EncoderEntry, data: st.DataObject
) -> None:
    value = encode_entry(entry)
    cut = data.draw(st.integers(0, len(value) - 1))
    with pytest.raises(CorruptValue):
        decode_entry(value[:cut])
    with pytest.raises(CorruptValue):
        decode_entry(value + b"\0")


@given(entries(), st.data())
def test_a_damaged_header_is_corrupt_or_still_the_right_size(
    entry: EncoderEntry, data: st.DataObject
) -> None:
    """Flip one header byte: the decoder rejects it or returns an entry whose payload fits its
    shape exactly (never reads past the value, never raises anything but CorruptValue)."""
    value = bytearray(encode_entry(entry))
    header = len(value) - len(entry.payload)
    position = data.draw(st.integers(0, header - 1))
    value[position] ^= data.draw(st.integers(1, 255))
    try:
        decoded = decode_entry(bytes(value))
    except CorruptValue:
        return
    assert len(decoded.payload) == math.prod(decoded.shape) * DTYPES[decoded.dtype][1]


def test_foreign_values_are_corrupt() -> None:
    good = encode_entry(EncoderEntry("float32", (2, 3), REVISION, 0.5, bytes(24)))
    for bad in (
        b"S2R" + good[3:],  # a result-cache value's magic
        good[:3] + bytes([99]) + good[4:],  # a future format version
        good[:4] + bytes([42]) + good[5:],  # an unknown dtype code
        good.replace(struct.pack(">d", 0.5), struct.pack(">d", math.nan)),  # no seconds
    ):
        with pytest.raises(CorruptValue):
            decode_entry(bad)


def test_an_entry_for_another_revision_dtype_or_shape_is_refused_on_read() -> None:
    entry = EncoderEntry("float16", (5, 8), REVISION, 0.01, bytes(80))
    assert entry.check(revision=REVISION, dtypes=("float16",), shape=(5, 8)) is entry
    assert entry.check(revision=REVISION, dtypes=("float32", "float16"), shape=(5, 8)) is entry
    for expected in (
        {"revision": "sha256:" + "cd" * 32, "dtypes": ("float16",), "shape": (5, 8)},
        {"revision": REVISION, "dtypes": ("float32", "bfloat16"), "shape": (5, 8)},
        {"revision": REVISION, "dtypes": ("float16",), "shape": (4, 8)},
        {"revision": REVISION, "dtypes": ("float16",), "shape": (5, 16)},
    ):
        with pytest.raises(CorruptValue):
            entry.check(**expected)  # type: ignore[arg-type]


def test_an_entry_whose_payload_does_not_fit_its_shape_cannot_be_made() -> None:
    with pytest.raises(ValueError):
        EncoderEntry("float32", (2, 3), REVISION, 0.0, bytes(23))
    with pytest.raises(ValueError):
        EncoderEntry("int8", (2, 3), REVISION, 0.0, bytes(6))
