"""Tier 1: an in-process LRU bounded in bytes (keys + values + a per-entry overhead)."""

from __future__ import annotations

from collections import OrderedDict

# Python's own bookkeeping per entry (dict slot, str and bytes headers), so that many small
# entries cannot exceed the bound by hiding in overhead.
ENTRY_OVERHEAD = 160


class ByteLRU:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[str, bytes] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> bytes | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def put(self, key: str, value: bytes) -> None:
        size = _size(key, value)
        if size > self.max_bytes:
            return  # larger than the whole tier: never worth evicting everything for
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= _size(key, old)
        self._entries[key] = value
        self.bytes += size
        while self.bytes > self.max_bytes:
            evicted, evicted_value = self._entries.popitem(last=False)
            self.bytes -= _size(evicted, evicted_value)

    def discard(self, key: str) -> None:
        value = self._entries.pop(key, None)
        if value is not None:
            self.bytes -= _size(key, value)


def _size(key: str, value: bytes) -> int:
    return len(key) + len(value) + ENTRY_OVERHEAD
