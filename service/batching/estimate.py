"""How long the work ahead of a new request will take, from measured batch times.

Work is counted in the admission cost unit (`admission.planned_work`): known before decoding,
unlike the real output length, and what a batch's time grows with. Two speeds are measured on
finished batches, in work per second of one engine slot:

* the **drain speed**: over batches that started while more work was waiting (the queue is
  drained in such full batches, which are far more efficient per text than the small batches of
  a quiet server), a running average over the last ~10;
* the **best speed** of any recent batch (decaying slowly), for the request's own share.

A request's finish time is estimated optimistically where the measurements are thin, so that a
wrong estimate admits (the old behaviour: the request may expire) rather than refuses: with
work ahead of it, everything ahead and its own texts drain at the drain speed over all slots
(it will run in one of those full batches); with nothing ahead, its own texts run at the best
speed; with no loaded batch measured yet nothing is counted for the work ahead at all. So a
quiet server never refuses a request for its deadline unless the request alone cannot make it.

Pure arithmetic, no clock of its own: the batcher passes times in, tests pass made-up ones.
"""

from __future__ import annotations

from dataclasses import dataclass

# Each batch's weight in the drain speed decays by this factor per loaded batch.
_DECAY = 0.9
# The best speed decays by this per batch, so it follows slower hardware or contention.
_PEAK_DECAY = 0.98


@dataclass(slots=True)
class WorkRate:
    """Measured decoding speeds of one engine slot (planned work per second)."""

    _work: float = 0.0
    _seconds: float = 0.0
    _peak: float = 0.0

    def observe(self, work: float, seconds: float, *, loaded: bool) -> None:
        """A batch of ``work`` finished in ``seconds``; ``loaded``: more work was waiting
        when it started."""
        if work <= 0 or seconds <= 0:
            return
        self._peak = max(work / seconds, self._peak * _PEAK_DECAY)
        if loaded:
            self._work = self._work * _DECAY + work
            self._seconds = self._seconds * _DECAY + seconds

    @property
    def drain(self) -> float:
        """Speed of loaded batches (0 before the first)."""
        return self._work / self._seconds if self._seconds else 0.0

    @property
    def peak(self) -> float:
        return self._peak

    def finish_in(self, ahead: float, own: float, slots: int, own_texts: int) -> float | None:
        """Seconds until a request with ``own`` work in ``own_texts`` texts, behind ``ahead``
        work (queued and running), is done; None before any batch was measured."""
        if self._peak <= 0:
            return None
        slots = max(1, slots)
        if ahead > 0 and self.drain > 0:
            return (ahead + own) / (self.drain * slots)
        return own / (self._peak * max(1, min(slots, own_texts)))

    def remaining(self, work: float, elapsed: float) -> float:
        """Work of a running batch still to do after ``elapsed`` seconds."""
        return max(0.0, work - elapsed * (self.drain or self._peak))
