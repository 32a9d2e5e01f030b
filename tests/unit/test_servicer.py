"""The servicer and interceptor on a real grpc.aio server in this process, over a fake engine:
wire conversion both ways, UNAVAILABLE before the models are loaded, errors as status codes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from service.api import seq2seq_pb2 as pb
from service.api import seq2seq_pb2_grpc as pb_grpc
from service.config import Limits
from service.interceptors import ServiceInterceptor
from service.pipeline import Pipeline
from service.registry import Registry
from service.servicer import Seq2SeqServicer
from tests.fakes import manifest, served_with_fake_engine

Setup = tuple[pb_grpc.Seq2SeqServiceStub, Seq2SeqServicer, Pipeline]


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    """A stub to a server whose servicer has no pipeline yet, and the pipeline to hand it."""
    registry = Registry([served_with_fake_engine(manifest(name="m"))])
    await registry.start()
    servicer = Seq2SeqServicer()
    server = grpc.aio.server(interceptors=[ServiceInterceptor()])
    pb_grpc.add_Seq2SeqServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield pb_grpc.Seq2SeqServiceStub(channel), servicer, Pipeline(registry, Limits())
    finally:
        await channel.close()
        await server.stop(0)
        await registry.close(grace=5)


async def test_unavailable_until_the_pipeline_is_handed_over(setup: Setup) -> None:
    stub, servicer, pipeline = setup
    request = pb.TranslateRequest(texts=["Hi."], source_language="en", target_language="de")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Translate(request, timeout=10)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert (await stub.ListModels(pb.ListModelsRequest(), timeout=10)).models == []
    servicer.pipeline = pipeline
    assert (await stub.Translate(request, timeout=10)).model == "m"


async def test_translate_summarize_and_list_models_round_trip(setup: Setup) -> None:
    stub, servicer, pipeline = setup
    servicer.pipeline = pipeline
    options = pb.DecodingOptions(beam_size=2, num_hypotheses=1, return_scores=True)
    reply = await stub.Translate(
        pb.TranslateRequest(
            texts=["A.", "B."], source_language="en", target_language="de", options=options
        ),
        timeout=10,
    )
    assert (reply.model, len(reply.results)) == ("m", 2)
    assert reply.results[0].hypotheses[0].HasField("score")
    assert reply.results[0].text == reply.results[0].hypotheses[0].text
    summary = await stub.Summarize(pb.SummarizeRequest(texts=["Long text."]), timeout=10)
    assert summary.model == "m" and summary.results[0].input_tokens > 0
    assert not summary.results[0].hypotheses[0].HasField("score")
    [info] = (await stub.ListModels(pb.ListModelsRequest(), timeout=10)).models
    assert (info.name, info.engine, info.ready) == ("m", "fake", True)
    assert info.default_options.max_length == 32


async def test_domain_errors_become_status_codes(setup: Setup) -> None:
    stub, servicer, pipeline = setup
    servicer.pipeline = pipeline
    cases = [
        (pb.TranslateRequest(texts=[""], source_language="en", target_language="de"),
         grpc.StatusCode.INVALID_ARGUMENT),
        (pb.TranslateRequest(texts=["a"], source_language="en", target_language="ja"),
         grpc.StatusCode.NOT_FOUND),
        (pb.TranslateRequest(texts=["a"], source_language="en", target_language="de",
                             model="nope"), grpc.StatusCode.NOT_FOUND),
    ]  # fmt: skip
    for request, code in cases:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.Translate(request, timeout=10)
        assert info.value.code() == code
