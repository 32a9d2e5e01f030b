"""Documents against the real server: layout kept, same sentences as one by one, segments of
concurrent documents sharing engine calls, per-segment cache hits, detection, truncation."""

from __future__ import annotations

import threading
import time

import grpc
import pytest

from service.client import ClientError, Seq2SeqClient
from service.documents.segmentation import segment
from service.types import DecodingOptions, Segmentation, Truncation
from tests.documents import document, english
from tests.serverproc import ServerProcess


def test_a_40_sentence_document_translates_like_its_sentences_one_by_one(
    document_server: ServerProcess,
) -> None:
    sentences = english(40)
    text = document(sentences)
    with Seq2SeqClient(document_server.target, timeout=120) as client:
        whole = client.translate([text], "en", "de").results[0]
        alone = [client.translate([s], "en", "de").results[0].text for s in sentences]
    assert whole.segments == 40
    layout = segment(text, "en")
    assert layout.segments == sentences
    assert whole.text == layout.join(alone)  # same sentences, same layout byte for byte
    assert whole.text.count("\n\n") == text.count("\n\n") and "  \r\n" in whole.text
    assert whole.input_tokens > 40 and whole.output_tokens > 40


def test_segments_of_concurrent_documents_share_engine_calls(
    document_server: ServerProcess,
) -> None:
    """Eight 3-sentence documents queued behind a slow call: sent alone, each would need its
    own engine call (8); sharing batches of 8, they need 3."""
    docs = [" ".join(english(3, start=40 + 3 * i)) for i in range(8)]
    slow = DecodingOptions(min_length=400, max_length=400)
    with Seq2SeqClient(document_server.target, timeout=120) as client:
        blocker = threading.Thread(
            target=client.translate,
            args=(["The dog sleeps."], "en", "de"),
            kwargs={"options": slow},
        )
        blocker.start()
        deadline = time.monotonic() + 60
        while document_server.metric("s2s_batches_in_flight") < 1:  # the slow call is running
            assert time.monotonic() < deadline, "the slow call never started"
            time.sleep(0.005)
        calls_before = document_server.metric("s2s_batch_size_count")
        texts_before = document_server.metric("s2s_batch_size_sum")
        results: list[str] = [""] * len(docs)

        def send(i: int) -> None:
            results[i] = client.translate([docs[i]], "en", "de").results[0].text

        senders = [threading.Thread(target=send, args=(i,)) for i in range(len(docs))]
        for t in senders:
            t.start()
        for t in [blocker, *senders]:
            t.join(120)
    calls = document_server.metric("s2s_batch_size_count") - calls_before - 1  # minus the blocker
    texts = document_server.metric("s2s_batch_size_sum") - texts_before - 1
    assert texts == 24 and all(results)
    assert calls < len(docs)
    assert texts / calls > 3  # batches mixed segments of several documents


def test_repeated_sentences_are_answered_per_segment_from_the_cache(
    demo_server: ServerProcess,
) -> None:
    first, second = english(5, start=64), english(3, start=69)
    with Seq2SeqClient(demo_server.target, timeout=120) as client:
        client.translate([" ".join(first)], "en", "de")
        # A new document repeating two sentences of the first, around a new one.
        repeat = f"{first[1]}\n\n{second[0]} {first[3]}"
        reply = client.translate([repeat], "en", "de").results[0]
        again = client.translate([repeat], "en", "de").results[0]
    assert (reply.segments, reply.cached_segments, reply.cached) == (3, 2, False)
    assert (again.segments, again.cached_segments, again.cached) == (3, 3, True)
    assert again.text == reply.text


def test_source_language_is_detected_or_asked_for(demo_server: ServerProcess) -> None:
    with Seq2SeqClient(demo_server.target, timeout=120) as client:
        reply = client.translate(
            [" ".join(english(3, start=72)), english(1, start=75)[0]], "", "de"
        )
        assert [r.detected_language for r in reply.results] == ["en", "en"]
        assert all(r.detection_confidence >= 0.8 for r in reply.results)
        explicit = client.translate([english(1, start=75)[0]], "en", "de").results[0]
        assert explicit.detected_language == "" and explicit.text == reply.results[1].text
        with pytest.raises(ClientError) as refused:
            client.translate(["The dog sleeps.", "xq zv qwrtz plmk"], "auto", "de")
    assert refused.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in refused.value.field_violations] == ["source_language"]
    assert "texts[1]" in refused.value.message and "set source_language" in refused.value.message


def test_long_summaries_are_truncated_and_say_so(demo_server: ServerProcess) -> None:
    report = "A bus crashed near Geneva on Thursday. 54 passengers were injured. " * 50
    with Seq2SeqClient(demo_server.target, timeout=120) as client:
        cut = client.summarize([report]).results[0]
        with pytest.raises(ClientError) as refused:
            client.summarize([report], truncation=Truncation.NONE)
    assert cut.truncated_tokens > 0 and cut.input_tokens == 256  # the demo model's limit
    assert cut.text
    assert refused.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert "truncation HEAD" in refused.value.message


def test_over_long_sentences_are_split_and_none_refuses_them(demo_server: ServerProcess) -> None:
    sentence = ", ".join(english(30, start=76)).replace(".", "")  # one ~300-token "sentence"
    with Seq2SeqClient(demo_server.target, timeout=120) as client:
        split = client.translate([sentence], "en", "de").results[0]
        with pytest.raises(ClientError) as refused:
            client.translate([sentence], "en", "de", segmentation=Segmentation.NONE)
    assert split.segments > 1 and split.text
    assert refused.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert "segmentation AUTO" in refused.value.message


def test_documents_of_40000_characters_are_accepted(demo_server: ServerProcess) -> None:
    """Repeated paragraphs (signatures, boilerplate): each distinct sentence is decoded once."""
    page = document(english(40, start=106))
    copies = 40_000 // len(page)
    text = page * copies
    with Seq2SeqClient(demo_server.target, timeout=300) as client:
        reply = client.translate([text], "en", "de").results[0]
        with pytest.raises(ClientError) as too_long:
            client.translate([text + "x" * (40_001 - len(text))], "en", "de")
    assert reply.segments == 40 * copies
    assert reply.text.count("\n") == text.count("\n")
    assert too_long.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert "the limit is 40000" in too_long.value.message


def test_the_model_reports_its_document_defaults(demo_server: ServerProcess) -> None:
    with Seq2SeqClient(demo_server.target) as client:
        (model,) = client.list_models()
    assert model.default_segmentation is Segmentation.AUTO
    assert model.default_truncation is Truncation.HEAD


def test_n_best_falls_back_to_whole_texts_unless_auto_is_asked(
    demo_server: ServerProcess,
) -> None:
    nbest = DecodingOptions(beam_size=4, num_hypotheses=3)
    text = "The dog sleeps. The cat plays."
    with Seq2SeqClient(demo_server.target) as client:
        reply = client.translate([text], "en", "de", options=nbest).results[0]
        with pytest.raises(ClientError) as refused:
            client.translate([text], "en", "de", options=nbest, segmentation=Segmentation.AUTO)
    assert reply.segments == 1 and len(reply.hypotheses) == 3
    assert [f for f, _ in refused.value.field_violations] == ["segmentation"]
