"""From a request's texts to model inputs ("units"): segmentation, length limits, truncation.

Each text gets a `TextPlan`: its layout (`Segmented`: the pieces it is cut into) and the range of
units that translate its segments. All units of a request go through the per-text path together
(result cache, single-flight, batcher), so the segments of every text of every caller share
engine calls and are cached one by one. Over-long input is handled here, before any engine work:

* translation with segmentation AUTO: a segment longer than the model reads is split further
  (`split_long`: clause punctuation, then words, then characters), never refused;
* translation with segmentation NONE: a text longer than the model reads is refused;
* summarisation with truncation HEAD: the longest beginning of the text that fits is kept (cut
  at a word boundary where one is near) and the dropped tokens are reported; NONE refuses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from service.documents.segmentation import Piece, Segmented, segment, split_long, whole
from service.engines.base import EngineInput
from service.errors import FieldViolation, InvalidInput
from service.model import ServedModel
from service.routing import Route
from service.types import ResolvedOptions, Segmentation, Truncation

# A truncated text is cut at the last whitespace this many characters before the limit, if any.
_WORD_BOUNDARY_WINDOW = 50


@dataclass(frozen=True, slots=True)
class Unit:
    """One model input: the text the result cache keys on, its tokens and its route."""

    text: str
    input: EngineInput
    route: Route


@dataclass(frozen=True, slots=True)
class TextPlan:
    """How one request text is answered: its layout and its units ``first .. first+count``."""

    layout: Segmented
    first: int
    count: int
    truncated_tokens: int = 0

    @property
    def units(self) -> range:
        return range(self.first, self.first + self.count)


@dataclass(frozen=True, slots=True)
class Plan:
    texts: tuple[TextPlan, ...]
    units: tuple[Unit, ...]


class _Builder:
    def __init__(
        self, served: ServedModel, options: ResolvedOptions | None, relative: bool
    ) -> None:
        self.served = served
        self.options = options
        self.relative = relative
        self.limit = served.manifest.max_input_tokens
        self.texts: list[TextPlan] = []
        self.units: list[Unit] = []
        self.problems: list[FieldViolation] = []

    def encode(self, text: str, route: Route) -> EngineInput:
        """``text``'s tokens, with its own output limit where the manifest sets one."""
        return self.served.encode(text, route, self.options, relative_limit=self.relative)

    def add(self, layout: Segmented, units: list[Unit], truncated: int = 0) -> None:
        self.texts.append(TextPlan(layout, len(self.units), len(units), truncated))
        self.units.extend(units)

    def too_long(self, index: int, tokens: int, hint: str) -> None:
        self.problems.append(
            FieldViolation(
                f"texts[{index}]",
                f"is {tokens} tokens long with the task prefix; model {self.served.name} reads "
                f"at most {self.limit} tokens; {hint}",
            )
        )

    def done(self) -> Plan:
        if self.problems:
            raise InvalidInput(self.problems)
        return Plan(tuple(self.texts), tuple(self.units))


def plan_translation(
    served: ServedModel,
    texts: Sequence[str],
    routes: Sequence[Route],
    languages: Sequence[str],
    segmentation: Segmentation,
    options: ResolvedOptions | None = None,
    relative: bool = True,
) -> Plan:
    """Units for translating ``texts`` (each with its own route and source language);
    ``options`` and ``relative`` give each unit its output limit (see `ServedModel.encode`)."""
    builder = _Builder(served, options, relative)
    for index, (text, route, language) in enumerate(zip(texts, routes, languages, strict=True)):
        if segmentation is Segmentation.NONE:
            layout = whole(text)
            units = [Unit(s, builder.encode(s, route), route) for s in layout.segments]
            for unit in units:
                if len(unit.input.source) > builder.limit:
                    builder.too_long(
                        index,
                        len(unit.input.source),
                        "shorten or split the text, or send it with segmentation AUTO",
                    )
            builder.add(layout, units)
            continue
        layout, units = _fitted(builder, segment(text, language), route)
        if any(len(u.input.source) > builder.limit for u in units):
            # Only a template longer than the model's limit gets here: nothing can fit.
            builder.too_long(index, max(len(u.input.source) for u in units), "nothing fits")
        builder.add(layout, units)
    return builder.done()


def plan_summaries(
    served: ServedModel,
    texts: Sequence[str],
    route: Route,
    truncation: Truncation,
    options: ResolvedOptions | None = None,
) -> Plan:
    """Units for summarising ``texts`` whole, truncated at the head where asked."""
    builder = _Builder(served, options, relative=False)
    for index, text in enumerate(texts):
        encoded = builder.encode(text, route)
        kept_text, truncated = text, 0
        if len(encoded.source) > builder.limit:
            if truncation is Truncation.NONE:
                builder.too_long(
                    index,
                    len(encoded.source),
                    "shorten the text, or send it with truncation HEAD to keep its beginning",
                )
                continue
            kept_text = _head(served, text, route, builder.limit, len(encoded.source))
            full = len(encoded.source)
            encoded = builder.encode(kept_text, route)
            truncated = full - len(encoded.source)
        layout = Segmented((Piece(text, True),))
        builder.add(layout, [Unit(kept_text, encoded, route)], truncated)
    return builder.done()


def _fitted(builder: _Builder, layout: Segmented, route: Route) -> tuple[Segmented, list[Unit]]:
    """The layout with over-long segments split until each fits, and one unit per segment."""
    pieces: list[Piece] = []
    units: list[Unit] = []
    refined = False
    limit = builder.limit

    def fits(text: str) -> bool:
        return len(builder.encode(text, route).source) <= limit

    for piece in layout.pieces:
        if not piece.translate:
            pieces.append(piece)
            continue
        encoded = builder.encode(piece.text, route)
        if len(encoded.source) <= limit:
            pieces.append(piece)
            units.append(Unit(piece.text, encoded, route))
            continue
        refined = True
        for part in split_long(piece.text, fits):
            pieces.append(part)
            if part.translate:
                units.append(Unit(part.text, builder.encode(part.text, route), route))
    return (Segmented(tuple(pieces)) if refined else layout), units


def _head(served: ServedModel, text: str, route: Route, limit: int, full_tokens: int) -> str:
    """The longest beginning of ``text`` whose tokens fit, found by bisection over a window
    estimated from the text's tokens per character (so a 40,000-character text costs a few
    encodings of about the limit's size, not of the whole text)."""

    def fits(n: int) -> bool:
        return len(served.encode(text[:n], route).source) <= limit

    high = min(len(text), int(limit * len(text) / max(1, full_tokens) * 2) + 16)
    while high < len(text) and fits(high):
        high = min(len(text), high * 2)
    low = 0  # the empty text fits unless the template alone is too long (then nothing does)
    while low < high - 1:
        mid = (low + high) // 2
        if fits(mid):
            low = mid
        else:
            high = mid
    cut = low
    space = max(text.rfind(" ", max(0, cut - _WORD_BOUNDARY_WINDOW), cut + 1), 0)
    if space > 0 and cut < len(text) and not text[cut].isspace():
        cut = space
    return text[:cut].rstrip()
