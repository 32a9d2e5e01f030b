"""Streamed replies: unit results and tokens, arriving in any order, become messages in order.

Texts are streamed one after another (every message of text 0, then of text 1, ...), while all
of them decode at once. Within a text:

* a text split into several segments sends each segment's output, with the input's whitespace
  after it, as soon as that segment and every segment before it are done;
* a text sent as one unit (one sentence, or segmentation NONE, or a summary) sends its output
  token by token where the engine reports tokens (greedy search): only text that later tokens
  cannot change is sent, so everything up to the last word boundary (a detokenizer may still
  join or respace the last word with what follows);
* the last message of a text carries the rest of its output and its complete result. The
  deltas of a text always concatenate to its result's text; should a detokenizer ever rewrite
  text already sent, the result (which is authoritative) says so by differing, and it is
  logged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import structlog

from service.documents.assembly import assemble
from service.documents.detection import Detection
from service.documents.plan import TextPlan
from service.types import GeneratedText, StreamEvent

log = structlog.get_logger(__name__)

Decode = Callable[[list[str]], str]


class StreamAssembler:
    def __init__(
        self,
        plans: Sequence[TextPlan],
        *,
        decode: Decode,
        detections: Sequence[Detection | None] | None = None,
        with_scores: bool = False,
    ) -> None:
        self._plans = plans
        self._decode = decode
        self._detections = detections or [None] * len(plans)
        self._with_scores = with_scores
        units = sum(p.count for p in plans)
        self._results: list[GeneratedText | None] = [None] * units
        self._tokens: dict[int, list[str]] = {}  # unit → tokens so far (one-unit texts only)
        self._owner = [0] * units
        for index, plan in enumerate(plans):
            for unit in plan.units:
                self._owner[unit] = index
        self._text = 0  # the text being streamed
        self._next_unit = 0  # its first unit not yet sent
        self._sent = ""  # what was sent of it so far
        self.finals: list[GeneratedText | None] = [None] * len(plans)

    @property
    def done(self) -> bool:
        return self._text >= len(self._plans)

    def start(self) -> list[StreamEvent]:
        """Messages that need no decoding (texts with nothing to translate at the front)."""
        return self._advance()

    def on_result(self, unit: int, result: GeneratedText) -> list[StreamEvent]:
        if self._results[unit] is not None:
            return []
        self._results[unit] = result
        self._tokens.pop(unit, None)
        return self._advance()

    def on_token(self, unit: int, token: str) -> list[StreamEvent]:
        plan = self._plans[self._owner[unit]]
        if plan.count != 1 or self._results[unit] is not None:
            return []  # segments are sent whole
        self._tokens.setdefault(unit, []).append(token)
        if self._owner[unit] != self._text:
            return []  # buffered until its text is at the front
        return self._token_delta(plan, unit)

    # ------------------------------------------------------------------ internals

    def _token_delta(self, plan: TextPlan, unit: int) -> list[StreamEvent]:
        decoded = self._decode(self._tokens.get(unit, []))
        stable = decoded.rstrip()
        boundary = max(stable.rfind(" "), stable.rfind("\n"), stable.rfind("\t"))
        if boundary <= 0:
            return []
        text = plan.layout.lead + stable[:boundary]
        if len(text) <= len(self._sent) or not text.startswith(self._sent):
            return []
        delta, self._sent = text[len(self._sent) :], text
        return [StreamEvent(self._text, delta)]

    def _advance(self) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        while self._text < len(self._plans):
            index, plan = self._text, self._plans[self._text]
            results = self._results[plan.first : plan.first + plan.count]
            while self._next_unit < plan.count - 1 and results[self._next_unit] is not None:
                k = self._next_unit
                result = results[k]
                assert result is not None
                run = (plan.layout.lead if k == 0 else "") + result.text + plan.layout.gaps[k]
                self._sent += run
                events.append(StreamEvent(index, run))
                self._next_unit += 1
            if any(r is None for r in results):
                if plan.count == 1:
                    events.extend(self._token_delta(plan, plan.first))
                break
            final = assemble(
                plan,
                [r for r in results if r is not None],
                detection=self._detections[index],
                with_scores=self._with_scores,
            )
            rest = ""
            if final.text.startswith(self._sent):
                rest = final.text[len(self._sent) :]
            else:
                log.warning("stream_delta_mismatch", index=index)
            self.finals[index] = final
            events.append(StreamEvent(index, rest, final))
            self._text += 1
            self._next_unit = 0
            self._sent = ""
        return events
