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


async def test_the_interceptor_reads_requests_itself_and_wraps_streaming_rpcs() -> None:
    """Malformed and oversize bodies get statuses; a server-streaming handler (health Watch)
    runs through the same wrapper."""
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    server = grpc.aio.server(
        interceptors=[ServiceInterceptor(max_request_bytes=1000)],
        options=[("grpc.max_receive_message_length", 1000)],
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    pb_grpc.add_Seq2SeqServiceServicer_to_server(Seq2SeqServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            raw = channel.unary_unary("/seq2seq.v1.Seq2SeqService/Translate")
            with pytest.raises(grpc.aio.AioRpcError) as malformed:
                await raw(b"\x0a\x02\xff\xfe", timeout=10)
            assert malformed.value.code() is grpc.StatusCode.INVALID_ARGUMENT
            with pytest.raises(grpc.aio.AioRpcError) as oversize:
                await raw(b"\x22\xe8\x07" + b"a" * 1000, timeout=10)
            assert oversize.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
            watch = health_pb2_grpc.HealthStub(channel).Watch(
                health_pb2.HealthCheckRequest(service=""), timeout=10
            )
            first = await watch.read()
            assert first.status == health_pb2.HealthCheckResponse.SERVING
            watch.cancel()
    finally:
        await server.stop(0)


async def test_a_handler_that_aborts_keeps_its_status_and_logs_no_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    server = grpc.aio.server(interceptors=[ServiceInterceptor()])
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as unknown:
                await stub.Check(health_pb2.HealthCheckRequest(service="nope"), timeout=10)
        assert unknown.value.code() is grpc.StatusCode.NOT_FOUND  # health's own abort()
    finally:
        await server.stop(0)
    captured = capsys.readouterr()
    assert "rpc_internal_error" not in captured.out + captured.err
