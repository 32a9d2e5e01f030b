"""Single-flight: identical texts in flight at the same time are decoded once.

The first request for a key leads; later ones join its future. If the leader fails (its
deadline passed, its caller left, the engine failed), joiners are told so and decode for
themselves: one caller's short deadline never fails another caller.
"""

from __future__ import annotations

import asyncio

from service.types import GeneratedText


class LeaderFailed(Exception):
    """The leader of a flight did not produce a result; the joiner should decode itself."""


class SingleFlight:
    def __init__(self) -> None:
        self._flights: dict[str, asyncio.Future[GeneratedText]] = {}

    def __len__(self) -> int:
        return len(self._flights)

    def join(self, key: str) -> asyncio.Future[GeneratedText] | None:
        """The flight already decoding ``key``, if any."""
        return self._flights.get(key)

    def lead(self, key: str) -> None:
        self._flights[key] = asyncio.get_running_loop().create_future()

    def land(self, key: str, result: GeneratedText) -> None:
        future = self._flights.pop(key, None)
        if future is not None and not future.done():
            future.set_result(result)

    def abort(self, key: str) -> None:
        future = self._flights.pop(key, None)
        if future is not None and not future.done():
            future.set_exception(LeaderFailed(key))
            future.exception()  # joiners may have left; never log it as unretrieved
