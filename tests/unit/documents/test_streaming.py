"""The stream assembler: messages in input order, segments in order, safe token deltas."""

from __future__ import annotations

from service.documents.plan import TextPlan
from service.documents.segmentation import segment, whole
from service.documents.streaming import StreamAssembler
from service.types import GeneratedText, Hypothesis, StreamEvent


def result(text: str) -> GeneratedText:
    return GeneratedText((Hypothesis(text, len(text.split())),), input_tokens=3)


def detok(tokens: list[str]) -> str:
    return "".join(tokens).replace("▁", " ").strip()


def deltas(events: list[StreamEvent]) -> list[tuple[int, str, bool]]:
    return [(e.index, e.delta, e.result is not None) for e in events]


def test_segments_are_sent_once_they_and_all_before_them_are_done() -> None:
    doc = TextPlan(segment("One. Two.\n\nThree.\n", "en"), 0, 3)
    single = TextPlan(whole("Four."), 3, 1)
    streams = StreamAssembler([doc, single], decode=detok)
    assert streams.start() == []
    assert streams.on_result(1, result("Zwei.")) == []  # waits for segment 0
    assert streams.on_result(3, result("Vier.")) == []  # text 1 waits for text 0
    assert deltas(streams.on_result(0, result("Eins."))) == [
        (0, "Eins. ", False),
        (0, "Zwei.\n\n", False),
    ]
    events = streams.on_result(2, result("Drei."))
    assert deltas(events) == [(0, "Drei.\n", True), (1, "Vier.", True)]
    assert events[0].result is not None and events[0].result.text == "Eins. Zwei.\n\nDrei.\n"
    assert streams.done and [f.text for f in streams.finals if f] == [
        "Eins. Zwei.\n\nDrei.\n",
        "Vier.",
    ]


def test_tokens_are_sent_up_to_the_last_word_boundary() -> None:
    streams = StreamAssembler([TextPlan(whole(" Hi.\n"), 0, 1)], decode=detok)
    sent = []
    for token in ["▁Der", "▁al", "te", "▁Mann", "▁liest", "."]:
        sent.extend(streams.on_token(0, token))
    assert [e.delta for e in sent] == [" Der", " alte", " Mann"]  # "liest." may still change
    final = streams.on_result(0, result("Der alte Mann liest."))
    assert deltas(final) == [(0, " liest.\n", True)]
    assert "".join(e.delta for e in sent + final) == " Der alte Mann liest.\n"


def test_tokens_of_a_later_text_wait_and_flush_when_it_comes_up() -> None:
    first, second = TextPlan(whole("A."), 0, 1), TextPlan(whole("B."), 1, 1)
    streams = StreamAssembler([first, second], decode=detok)
    assert streams.on_token(1, "▁Zwei") == [] and streams.on_token(1, "▁Worte") == []
    events = streams.on_result(0, result("Eins."))
    assert deltas(events) == [(0, "Eins.", True), (1, "Zwei", False)]


def test_segments_of_a_document_are_not_streamed_token_by_token() -> None:
    streams = StreamAssembler([TextPlan(segment("One. Two.", "en"), 0, 2)], decode=detok)
    assert streams.on_token(0, "▁Eins") == [] and streams.on_token(0, "▁und") == []


def test_texts_without_units_are_sent_at_once() -> None:
    streams = StreamAssembler(
        [TextPlan(segment("42\n", "en"), 0, 0), TextPlan(whole("Hi."), 0, 1)], decode=detok
    )
    assert deltas(streams.start()) == [(0, "42\n", True)]
    assert not streams.done
