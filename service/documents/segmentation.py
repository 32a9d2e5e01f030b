"""Cutting a document into segments a sentence-level model translates well, and putting the
translations back exactly where the sentences were.

A text becomes a sequence of `Piece`s that concatenate to it byte for byte: *segments* (the
words a model should translate) and *verbatim* pieces (whitespace, line endings, list markers,
text without letters), which are copied to the output unchanged. So whatever the translations
are, leading and trailing spaces, tabs, ``\\r\\n``, blank lines between paragraphs, bullets and
numbering come out as they went in.

Rules, in order:

* Every line is cut on its own: a line break is always a boundary and is kept verbatim (a text
  hard-wrapped in the middle of a sentence is therefore translated line by line).
* A list marker at the start of a line (``-``, ``*``, ``•``, ``1.``, ``2)``, ``(a)``, ``#``,
  ``>``) is kept verbatim.
* The rest of the line is split into sentences by `sentencex`, a maintained language-aware
  segmenter (~300 languages; abbreviations such as "Dr." and "e.g.", numbers such as "3.5",
  quotes and ellipses are handled by its per-language rules); its output is checked to
  concatenate to its input, and a line it cannot split exactly is kept as one sentence.
* Whitespace around each sentence is verbatim; a sentence without a letter (a number, a row
  of dashes, an emoji) is verbatim too: there is nothing to translate and models hallucinate
  on such input.
* `split_long` cuts a sentence longer than the model reads at clause punctuation, then
  between words, then (a single "word" longer than the limit) at the longest prefix that fits.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import sentencex

Fits = Callable[[str], bool]
"""Whether a segment fits the model's input (its tokens with the task template, under the limit)."""

_LIST_MARKER = re.compile(
    r"[ \t\u00a0\u3000]*"
    r"(?:[-*+•‣◦▪▫·●○■□➢➤►▶✓✔–—>]|#{1,6}|\d{1,3}[.)]|[a-z][)]|\(\d{1,3}\)|\([a-z]\))"
    r"[ \t\u00a0\u3000]+"
)
_SURROUNDING_SPACE = re.compile(r"^(\s*)(.*?)(\s*)$", re.DOTALL)
# Clause boundaries: after , ; : and dashes or closing brackets, before whitespace.
_CLAUSE_END = re.compile(r"(?<=[,;:\u2013\u2014)\]»”\u3001\uff0c\uff1b])\s+")
_SPACE_RUN = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Piece:
    """A run of the input: a segment to translate, or text to copy unchanged."""

    text: str
    translate: bool


@dataclass(frozen=True, slots=True)
class Segmented:
    """One text cut into pieces; the pieces concatenate to the text exactly."""

    pieces: tuple[Piece, ...]

    @property
    def segments(self) -> list[str]:
        """The texts to translate, in order."""
        return [p.text for p in self.pieces if p.translate]

    @property
    def source(self) -> str:
        return "".join(p.text for p in self.pieces)

    @property
    def lead(self) -> str:
        """Verbatim text before the first segment (the whole text if nothing is translated)."""
        out: list[str] = []
        for piece in self.pieces:
            if piece.translate:
                break
            out.append(piece.text)
        return "".join(out)

    @property
    def gaps(self) -> list[str]:
        """The verbatim text after each segment, up to the next segment or the end."""
        gaps: list[str] = []
        for piece in self.pieces:
            if piece.translate:
                gaps.append("")
            elif gaps:
                gaps[-1] += piece.text
        return gaps

    def join(self, outputs: Sequence[str]) -> str:
        """The text with each segment replaced by its output, everything else as it was."""
        return "".join(self.runs(outputs))

    def runs(self, outputs: Sequence[str]) -> list[str]:
        """The output in runs, one per segment: its output and the verbatim text after it (the
        first run starts with `lead`). Streaming sends each run once its segment and all
        before it are done."""
        gaps = self.gaps
        if len(outputs) != len(gaps):
            raise ValueError(f"{len(outputs)} outputs for {len(gaps)} segments")
        if not gaps:
            return [self.lead]
        runs = [out + gap for out, gap in zip(outputs, gaps, strict=True)]
        runs[0] = self.lead + runs[0]
        return runs


def whole(text: str) -> Segmented:
    """The text as one segment (segmentation off): its surrounding whitespace stays verbatim,
    as around any segment, and the rest goes to the model even without a letter in it."""
    pieces: list[Piece] = []
    _add_sentence(pieces, text, always=True)
    return Segmented(tuple(_merged(pieces)))


def segment(text: str, language: str) -> Segmented:
    """Cut ``text`` into sentences and verbatim runs (see the module doc)."""
    lang = language.replace("_", "-").split("-")[0].lower() or "en"
    pieces: list[Piece] = []
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
        ending = line[len(body) :]
        marker = _LIST_MARKER.match(body)
        if marker is not None and marker.end() < len(body):
            pieces.append(Piece(marker.group(), False))
            body = body[marker.end() :]
        for sentence in _sentences(body, lang):
            _add_sentence(pieces, sentence)
        if ending:
            pieces.append(Piece(ending, False))
    return Segmented(tuple(_merged(pieces)))


def split_long(text: str, fits: Fits) -> list[Piece]:
    """Pieces of one segment, each segment among them fitting: at clause punctuation first,
    then between words, then at character positions. Concatenates to ``text``."""
    if fits(text):
        return [Piece(text, True)]
    pieces: list[Piece] = []
    for chunk, separator in _pack(_CLAUSE_END, text, fits):
        if fits(chunk):
            pieces.append(Piece(chunk, True))
        else:
            for word_chunk, word_separator in _pack(_SPACE_RUN, chunk, fits):
                pieces.extend(_windows(word_chunk, fits))
                if word_separator:
                    pieces.append(Piece(word_separator, False))
        if separator:
            pieces.append(Piece(separator, False))
    return _merged(pieces)


def _sentences(body: str, lang: str) -> list[str]:
    if not body:
        return []
    try:
        sentences = [s for s in sentencex.segment(lang, body) if s]
    except Exception:  # a segmenter bug must not fail the request: keep the line whole
        return [body]
    return sentences if "".join(sentences) == body else [body]


def _add_sentence(pieces: list[Piece], sentence: str, *, always: bool = False) -> None:
    match = _SURROUNDING_SPACE.match(sentence)
    assert match is not None  # the pattern matches any string
    lead, core, trail = match.groups()
    if lead:
        pieces.append(Piece(lead, False))
    if core:
        pieces.append(Piece(core, always or any(ch.isalpha() for ch in core)))
    if trail:
        pieces.append(Piece(trail, False))


def _merged(pieces: Sequence[Piece]) -> list[Piece]:
    """Adjacent verbatim pieces joined (segments stay separate: each is translated alone)."""
    out: list[Piece] = []
    for piece in pieces:
        if not piece.text:
            continue
        if out and not piece.translate and not out[-1].translate:
            out[-1] = Piece(out[-1].text + piece.text, False)
        else:
            out.append(piece)
    return out


def _pack(boundary: re.Pattern[str], text: str, fits: Fits) -> Iterator[tuple[str, str]]:
    """Greedily join the runs between ``boundary`` matches into the longest chunks that fit;
    yields (chunk, the separator after it). A run that does not fit alone is its own chunk."""
    runs: list[tuple[str, str]] = []
    start = 0
    for match in boundary.finditer(text):
        runs.append((text[start : match.start()], match.group()))
        start = match.end()
    runs.append((text[start:], ""))
    chunk, separator = runs[0]
    for run, after in runs[1:]:
        candidate = chunk + separator + run
        if chunk and fits(candidate):
            chunk = candidate
        else:
            yield chunk, separator
            chunk = run
        separator = after
    yield chunk, separator


def _windows(text: str, fits: Fits) -> list[Piece]:
    """``text`` (no whitespace boundary left) as consecutive windows, each the longest prefix
    of the rest that fits (at least one character, so the loop always advances)."""
    pieces: list[Piece] = []
    rest = text
    while rest:
        if fits(rest):
            pieces.append(Piece(rest, True))
            break
        low, high = 1, len(rest) - 1  # fits(rest[:low]) is assumed; rest itself does not fit
        while low < high:
            mid = (low + high + 1) // 2
            if fits(rest[:mid]):
                low = mid
            else:
                high = mid - 1
        pieces.append(Piece(rest[:low], True))
        rest = rest[low:]
    return pieces
