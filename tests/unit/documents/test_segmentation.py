"""Segmentation: documents come back with every byte of their layout where it was."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.documents.segmentation import Piece, segment, split_long, whole

SHAPES = {
    "abbreviations": "Dr. Smith met Mrs. Jones at 5 p.m. in the U.S. office, e.g. room 3. He left.",
    "numbers": "The price rose 3.5 percent to $1,250.75 today. It fell 0.2 percent on Monday.",
    "quotes": 'She said: "Is it ready?" He answered "No." Then they left.',
    "tabs_and_trailing": "\tThe dog sleeps.  \t The cat plays.   ",
    "crlf_paragraphs": "First paragraph. Still first.\r\n\r\nSecond paragraph.\r\n",
    "blank_lines": "\n\nOne.\n\n\n\nTwo. Three.\n\n",
    "bullets": "Shopping:\n- Buy milk. Then bread.\n* Call mum.\n  • Indented bullet.\n",
    "numbering": "Steps:\n1. Open the door.\n2) Walk in.\n(3) Sit down.\n(a) Relax.\n",
    "markdown": "# Title\n\n> A quoted line. Another sentence.\n\n## Section\nBody text.",
    "no_letters": "Total:\n---\n42\n3.5\n",
    "ellipsis_and_marks": "Well... maybe?! Yes. (Really.) [Sure.] «Oui.»",
    "unicode_space": "Hello\u00a0world. Next\u2003one.\u2028Line two.",
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_join_with_the_segments_reproduces_the_input(name: str) -> None:
    text = SHAPES[name]
    doc = segment(text, "en")
    assert doc.source == text
    assert doc.join(doc.segments) == text
    assert "".join(doc.runs(doc.segments)) == text


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_translations_keep_the_layout(name: str) -> None:
    """Replace each segment by a marker: everything outside the segments is untouched."""
    text = SHAPES[name]
    doc = segment(text, "en")
    out = doc.join([f"<{i}>" for i in range(len(doc.segments))])
    rebuilt = out
    for i, seg in enumerate(doc.segments):
        rebuilt = rebuilt.replace(f"<{i}>", seg, 1)
    assert rebuilt == text
    # Line structure is identical: same line endings in the same order.
    assert [line[len(line.rstrip("\r\n")) :] for line in out.splitlines(True)] == [
        line[len(line.rstrip("\r\n")) :] for line in text.splitlines(True)
    ]


def test_sentences_abbreviations_and_numbers_are_not_split() -> None:
    assert segment(SHAPES["abbreviations"], "en").segments == [
        "Dr. Smith met Mrs. Jones at 5 p.m. in the U.S. office, e.g. room 3.",
        "He left.",
    ]
    assert segment(SHAPES["numbers"], "en").segments == [
        "The price rose 3.5 percent to $1,250.75 today.",
        "It fell 0.2 percent on Monday.",
    ]
    assert segment("Er kam z.B. um 3 Uhr. Sie ging.", "de").segments == [
        "Er kam z.B. um 3 Uhr.",
        "Sie ging.",
    ]


def test_markers_whitespace_and_letterless_lines_are_verbatim() -> None:
    doc = segment(SHAPES["numbering"], "en")
    assert doc.segments == ["Steps:", "Open the door.", "Walk in.", "Sit down.", "Relax."]
    assert doc.lead == ""
    assert doc.gaps == ["\n1. ", "\n2) ", "\n(3) ", "\n(a) ", "\n"]
    assert segment(SHAPES["no_letters"], "en").segments == ["Total:"]
    assert segment("\n\n  \t\n", "en").segments == []


def test_each_line_is_segmented_on_its_own() -> None:
    doc = segment("The dog\nsleeps. The cat plays.", "en")
    assert doc.segments == ["The dog", "sleeps.", "The cat plays."]


def test_runs_carry_the_whitespace_after_each_segment() -> None:
    doc = segment("  One. Two.\n\nThree.\n", "en")
    assert doc.runs(["A", "B", "C"]) == ["  A ", "B\n\n", "C\n"]
    assert segment("\n \n", "en").runs([]) == ["\n \n"]
    with pytest.raises(ValueError, match="2 outputs for 3 segments"):
        doc.runs(["A", "B"])


def test_whole_keeps_surrounding_whitespace_and_sends_the_rest() -> None:
    doc = whole("  12 345 \n")
    assert doc.segments == ["12 345"]
    assert doc.join(["x"]) == "  x \n"


def _fits(limit: int):  # type: ignore[no-untyped-def]
    return lambda s: len(s) <= limit


def test_split_long_prefers_clauses_then_words_then_windows() -> None:
    text = "first clause here, second clause here; third one is a very long clause indeed"
    pieces = split_long(text, _fits(40))
    segments = [p.text for p in pieces if p.translate]
    assert segments == [
        "first clause here, second clause here;",
        "third one is a very long clause indeed",
    ]
    words = [p.text for p in split_long("aaaa bbbb cccc dddd", _fits(9)) if p.translate]
    assert words == ["aaaa bbbb", "cccc dddd"]
    window = [p.text for p in split_long("x" * 23, _fits(10)) if p.translate]
    assert window == ["x" * 10, "x" * 10, "xxx"]
    assert split_long("short", _fits(10)) == [Piece("short", True)]


_LAYOUT = st.sampled_from(
    [" ", "  ", "\t", "\n", "\r\n", "\n\n", "\r", "\u00a0", "- ", "1. ", "• ", "(a) ", "# "]
)
_WORDS = st.sampled_from(
    ["The", "dog", "sleeps.", "Dr.", "e.g.", "3.5", "U.S.", '"Hi."', "Yes!", "Why?", "...",
     "z.B.", "ok,", "a;", "—", "(b)", "’", "日本語。", "42", "Ça", "va."]
)  # fmt: skip
_TEXTS = st.lists(st.one_of(_LAYOUT, _WORDS, st.text(max_size=5)), max_size=40).map("".join)


@settings(max_examples=300, deadline=None)
@given(_TEXTS, st.sampled_from(["en", "de", "fr", "ja", "xx"]))
def test_property_segment_then_join_is_the_identity(text: str, language: str) -> None:
    doc = segment(text, language)
    assert doc.source == text
    assert doc.join(doc.segments) == text
    assert "".join(doc.runs(doc.segments)) == text
    for seg in doc.segments:
        assert seg == seg.strip() and seg
        assert "\n" not in seg and "\r" not in seg


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=200), st.integers(min_value=1, max_value=30))
def test_property_split_long_pieces_fit_and_rejoin(text: str, limit: int) -> None:
    pieces = split_long(text, _fits(limit))
    assert "".join(p.text for p in pieces) == text
    assert all(len(p.text) <= limit for p in pieces if p.translate)
