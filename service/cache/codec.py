"""Cached result values: bytes we define, versioned and validated on read (never pickle).

Layout (big-endian): magic ``S2R`` + format version (1 byte), input tokens (u32), hypothesis
count (u16), then per hypothesis: output tokens (u32), has-score flag (u8), score (f64), text
length (u32) and UTF-8 text. A value that is truncated, has trailing bytes, a foreign magic or
version, or invalid UTF-8 raises `CorruptValue`: the cache counts it and treats it as a miss.
"""

from __future__ import annotations

import math
import struct

from service.types import GeneratedText, Hypothesis

MAGIC = b"S2R"
VERSION = 1
_HEAD = struct.Struct(">3sBIH")
_HYP = struct.Struct(">IBdI")
MAX_HYPOTHESES = 1024


class CorruptValue(ValueError):
    """A cached value that is not one we wrote (or not any more)."""


def encode_result(result: GeneratedText) -> bytes:
    parts = [_HEAD.pack(MAGIC, VERSION, result.input_tokens, len(result.hypotheses))]
    for hyp in result.hypotheses:
        text = hyp.text.encode("utf-8", "surrogatepass")
        score = hyp.score if hyp.score is not None else 0.0
        parts.append(_HYP.pack(hyp.output_tokens, hyp.score is not None, score, len(text)))
        parts.append(text)
    return b"".join(parts)


def decode_result(data: bytes) -> GeneratedText:
    if len(data) < _HEAD.size:
        raise CorruptValue(f"value of {len(data)} bytes is shorter than its header")
    magic, version, input_tokens, count = _HEAD.unpack_from(data)
    if magic != MAGIC or version != VERSION:
        raise CorruptValue(f"foreign value (magic {magic!r}, version {version})")
    if not 1 <= count <= MAX_HYPOTHESES:
        raise CorruptValue(f"hypothesis count {count} out of range")
    offset = _HEAD.size
    hypotheses = []
    for _ in range(count):
        if offset + _HYP.size > len(data):
            raise CorruptValue("value truncated inside a hypothesis header")
        output_tokens, has_score, score, length = _HYP.unpack_from(data, offset)
        offset += _HYP.size
        if has_score not in (0, 1) or math.isnan(score) or (not has_score and score != 0.0):
            raise CorruptValue("bad score field")
        end = offset + length
        if end > len(data):
            raise CorruptValue("value truncated inside a hypothesis text")
        try:
            text = data[offset:end].decode("utf-8", "surrogatepass")
        except UnicodeDecodeError as exc:
            raise CorruptValue(f"hypothesis text is not UTF-8: {exc}") from None
        offset = end
        hypotheses.append(Hypothesis(text, output_tokens, score if has_score else None))
    if offset != len(data):
        raise CorruptValue(f"{len(data) - offset} trailing bytes")
    return GeneratedText(tuple(hypotheses), input_tokens=input_tokens)
