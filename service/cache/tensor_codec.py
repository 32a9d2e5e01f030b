"""Cached encoder outputs: bytes we define, versioned and validated on read (no pickle, no
``torch.save``), so a value from Redis can never run code or be mistaken for another model's.

Layout (big-endian header, little-endian payload): magic ``S2E`` + format version (u8), dtype
code (u8), number of dimensions (u8), revision length (u16), measured encoder seconds (f64),
each dimension (u32), the model revision (UTF-8), then the tensor's raw bytes, row-major. A
value that is truncated, has trailing bytes, a foreign magic or version, an unknown dtype, or a
payload whose size does not match its shape raises `CorruptValue`; a well-formed value for
another revision, shape or dtype than the reader expects raises it too (`check`). The cache
counts either as ``corrupt`` and treats it as a miss. This module needs no torch: the engine
turns tensors into payloads and back (`service.engines.encoder_states`).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Collection
from dataclasses import dataclass

from service.cache.codec import CorruptValue

MAGIC = b"S2E"
VERSION = 1
_HEAD = struct.Struct(">3sBBBHd")
_DIM = struct.Struct(">I")
# dtype name → (code, bytes per element). Codes are part of the format: never reuse one.
DTYPES: dict[str, tuple[int, int]] = {"float32": (1, 4), "float16": (2, 2), "bfloat16": (3, 2)}
_BY_CODE = {code: (name, size) for name, (code, size) in DTYPES.items()}
MAX_DIMS = 4
MAX_REVISION_BYTES = 256


@dataclass(frozen=True, slots=True)
class EncoderEntry:
    """One source's encoder output: ``shape`` is (source tokens, hidden size) for the models we
    serve; ``encoder_seconds`` is what computing it cost, credited as saved on every hit."""

    dtype: str
    shape: tuple[int, ...]
    revision: str
    encoder_seconds: float
    payload: bytes

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype {self.dtype!r}; expected one of: {sorted(DTYPES)}")
        if len(self.payload) != math.prod(self.shape) * DTYPES[self.dtype][1]:
            raise ValueError(f"payload of {len(self.payload)} bytes does not fit {self.shape}")

    def check(
        self, *, revision: str, dtypes: Collection[str], shape: tuple[int, ...]
    ) -> EncoderEntry:
        """This entry if it is what the reader expects, else `CorruptValue`."""
        if self.revision != revision:
            raise CorruptValue(f"entry of revision {self.revision[:19]}, expected {revision[:19]}")
        if self.dtype not in dtypes:
            raise CorruptValue(f"entry stored as {self.dtype}, expected one of {sorted(dtypes)}")
        if self.shape != shape:
            raise CorruptValue(f"entry of shape {self.shape}, expected {shape}")
        return self


def encode_entry(entry: EncoderEntry) -> bytes:
    revision = entry.revision.encode("utf-8")
    if len(revision) > MAX_REVISION_BYTES or len(entry.shape) > MAX_DIMS:
        raise ValueError("revision or rank too large for the encoder-entry format")
    code = DTYPES[entry.dtype][0]
    head = _HEAD.pack(
        MAGIC, VERSION, code, len(entry.shape), len(revision), float(entry.encoder_seconds)
    )
    dims = b"".join(_DIM.pack(d) for d in entry.shape)
    return b"".join((head, dims, revision, entry.payload))


def decode_entry(data: bytes) -> EncoderEntry:
    if len(data) < _HEAD.size:
        raise CorruptValue(f"value of {len(data)} bytes is shorter than its header")
    magic, version, code, ndim, rev_len, seconds = _HEAD.unpack_from(data)
    if magic != MAGIC or version != VERSION:
        raise CorruptValue(f"foreign value (magic {magic!r}, version {version})")
    if code not in _BY_CODE:
        raise CorruptValue(f"unknown dtype code {code}")
    if not 1 <= ndim <= MAX_DIMS or rev_len > MAX_REVISION_BYTES:
        raise CorruptValue(f"rank {ndim} or revision length {rev_len} out of range")
    if not math.isfinite(seconds) or seconds < 0:
        raise CorruptValue(f"bad encoder seconds {seconds}")
    offset = _HEAD.size
    end_of_dims = offset + ndim * _DIM.size
    if end_of_dims + rev_len > len(data):
        raise CorruptValue("value truncated inside its header")
    shape = tuple(_DIM.unpack_from(data, offset + i * _DIM.size)[0] for i in range(ndim))
    try:
        revision = data[end_of_dims : end_of_dims + rev_len].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptValue(f"revision is not UTF-8: {exc}") from None
    name, size = _BY_CODE[code]
    payload = data[end_of_dims + rev_len :]
    if len(payload) != math.prod(shape) * size:
        raise CorruptValue(f"payload of {len(payload)} bytes does not fit shape {shape} {name}")
    return EncoderEntry(name, shape, revision, seconds, payload)
