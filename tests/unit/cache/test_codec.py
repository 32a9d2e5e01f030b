"""Cached values: exact round trips, and anything else is `CorruptValue`, never a crash."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.cache.codec import CorruptValue, decode_result, encode_result
from service.types import GeneratedText, Hypothesis

hypotheses = st.builds(
    Hypothesis,
    text=st.text(max_size=200),
    output_tokens=st.integers(0, 2**31),
    score=st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
)
results = st.builds(
    GeneratedText,
    hypotheses=st.lists(hypotheses, min_size=1, max_size=8).map(tuple),
    input_tokens=st.integers(0, 2**31),
)


@given(results)
def test_round_trip_is_exact(result: GeneratedText) -> None:
    assert decode_result(encode_result(result)) == result


@given(st.binary(max_size=300))
def test_random_bytes_are_corrupt_or_a_valid_result(data: bytes) -> None:
    try:
        decoded = decode_result(data)
    except CorruptValue:
        return
    assert encode_result(decoded) == data  # only our own exact encoding decodes


@given(results, st.data())
def test_truncated_and_extended_values_are_corrupt(
    result: GeneratedText, data: st.DataObject
) -> None:
    value = encode_result(result)
    cut = data.draw(st.integers(0, len(value) - 1))
    with pytest.raises(CorruptValue):
        decode_result(value[:cut])
    with pytest.raises(CorruptValue):
        decode_result(value + b"\x00")


def test_foreign_values_are_corrupt() -> None:
    value = encode_result(GeneratedText((Hypothesis("Hallo", 2, -0.5),), input_tokens=3))
    for foreign in (b"\x80\x04pickle", b"S2R\x02" + value[4:], b"XYZ" + value[3:], b""):
        with pytest.raises(CorruptValue):
            decode_result(foreign)
    bad_utf8 = value[:-5] + b"\xff\xfe\xfd\xfc\xfb"
    with pytest.raises(CorruptValue):
        decode_result(bad_utf8)
    nan_score = value.replace(struct.pack(">d", -0.5), struct.pack(">d", float("nan")))
    with pytest.raises(CorruptValue):
        decode_result(nan_score)
