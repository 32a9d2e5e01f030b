"""TranslateStream / SummarizeStream against the real server: in order, early, exact, and a
cancelled stream stops costing engine calls."""

from __future__ import annotations

import time
import urllib.request

import grpc
import pytest

from service.client import ClientError, Seq2SeqClient
from service.types import DecodingOptions, StreamEvent
from tests.documents import document, english
from tests.serverproc import ServerProcess

SAFETY_S = 60.0


def metrics_text(server: ServerProcess) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.metrics_port}/metrics") as reply:
        return str(reply.read().decode())


def idle(server: ServerProcess) -> None:
    """Wait until nothing is queued or decoding (fails only on a real hang)."""
    deadline = time.monotonic() + SAFETY_S
    while server.metric("s2s_batches_in_flight") or server.metric("s2s_queue_texts"):
        assert time.monotonic() < deadline, "the server never went idle"
        time.sleep(0.01)


def test_a_document_streams_segment_by_segment_in_order(document_server: ServerProcess) -> None:
    text = document(english(40, start=150))
    with Seq2SeqClient(document_server.target, timeout=120) as client:
        idle(document_server)
        calls_before = document_server.metric("s2s_batch_size_count")
        events: list[StreamEvent] = []
        calls_at_first = -1.0
        for event in client.translate_stream([text], "en", "de"):
            if not events:
                calls_at_first = document_server.metric("s2s_batch_size_count") - calls_before
            events.append(event)
        idle(document_server)  # the last call is counted when it returns, after its outputs
        calls = document_server.metric("s2s_batch_size_count") - calls_before
        unary = client.translate([text], "en", "de").results[0]
    final = events[-1].result
    assert final is not None and all(e.result is None for e in events[:-1])
    assert all(e.index == 0 for e in events)
    assert "".join(e.delta for e in events) == final.text == unary.text
    assert final.segments == 40
    # The first segment alone (a head start on the idle engine), then 39 in batches of 8; the
    # first segment arrived before the other calls had run.
    assert calls == 6
    assert calls_at_first <= 2 < calls
    assert len(events) >= 5
    # Each message ends where a segment's trailing whitespace ends: the layout comes in order.
    assert events[0].delta.startswith(final.text[: len(events[0].delta)])


def test_one_sentence_streams_token_deltas(demo_server: ServerProcess) -> None:
    sentence = "The old man sees the small dog because it is playing in the garden."
    with Seq2SeqClient(demo_server.target, timeout=120) as client:
        events = list(
            client.translate_stream([sentence], "en", "de", options=DecodingOptions(max_length=64))
        )
        summary = list(
            client.summarize_stream(["A bus crashed near Geneva on Thursday. 54 were hurt."])
        )
    assert len(events) > 3  # word by word, not one piece
    assert "".join(e.delta for e in events) == events[-1].result.text  # type: ignore[union-attr]
    assert summary[-1].result is not None
    assert "".join(e.delta for e in summary) == summary[-1].result.text
    assert summary[-1].model == "t5-demo"


def test_several_texts_come_in_input_order(demo_server: ServerProcess) -> None:
    texts = [" ".join(english(4, start=200)), english(1, start=204)[0], "42\n"]
    with Seq2SeqClient(demo_server.target, timeout=120) as client:
        events = list(client.translate_stream(texts, "en", "de"))
        unary = client.translate(texts, "en", "de")
    indexes = [e.index for e in events]
    assert indexes == sorted(indexes) and set(indexes) == {0, 1, 2}
    finals = [e.result for e in events if e.result is not None]
    assert [f.text for f in finals] == [r.text for r in unary.results]
    assert finals[2].text == "42\n" and finals[2].segments == 0  # nothing to translate
    for i in range(3):
        assert "".join(e.delta for e in events if e.index == i) == finals[i].text


def test_a_cancelled_stream_stops_decoding(document_server: ServerProcess) -> None:
    text = document(english(40, start=250))  # new sentences: nothing is cached anyway
    with Seq2SeqClient(document_server.target, timeout=120) as client:
        idle(document_server)
        calls_before = document_server.metric("s2s_batch_size_count")
        cancelled_before = document_server.metric("s2s_dropped_total")
        stream = client.translate_stream([text], "en", "de")
        first = next(stream)
        stream.close()  # leaves the loop: the client cancels the call
        idle(document_server)
        calls = document_server.metric("s2s_batch_size_count") - calls_before
    assert first.delta and first.result is None
    assert calls <= 2  # of the 5 the whole document takes
    assert document_server.metric("s2s_dropped_total") > cancelled_before  # counted as dropped
    cancelled = 's2s_requests_total{code="CANCELLED",method="TranslateStream"}'
    deadline = time.monotonic() + SAFETY_S
    while cancelled not in metrics_text(document_server):  # logged once the handler ends
        assert time.monotonic() < deadline, "the stream was never counted as CANCELLED"
        time.sleep(0.01)


def test_bad_streams_fail_before_the_first_message(demo_server: ServerProcess) -> None:
    with Seq2SeqClient(demo_server.target, timeout=120) as client:
        with pytest.raises(ClientError) as bad:
            list(client.translate_stream([""], "en", "de"))
        with pytest.raises(ClientError) as unsupported:
            list(client.translate_stream(["The dog sleeps."], "en", "fr"))
    assert bad.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert bad.value.field_violations[0][0] == "texts[0]"
    assert unsupported.value.code is grpc.StatusCode.NOT_FOUND
