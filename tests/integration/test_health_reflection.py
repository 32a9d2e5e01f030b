"""Standard gRPC health (NOT_SERVING until warmed up) and server reflection."""

from __future__ import annotations

import time
from pathlib import Path

import grpc
from google.protobuf import descriptor_pool, json_format, message_factory
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from service.client import ClientError, Seq2SeqClient
from tests.serverproc import REGISTRY, ServerProcess, start_server

SERVICE = "seq2seq.v1.Seq2SeqService"


def test_health_goes_from_not_serving_to_serving(tmp_path: Path) -> None:
    # Many warm-up rounds keep the server in its warming state long enough to observe it.
    server = start_server(tmp_path, "--warmup-rounds", "400", models=REGISTRY)
    try:
        seen: list[int | None] = []
        unavailable_while_warming = False
        alive_while_warming = False
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status = server.health(SERVICE, timeout=1.0)
            if status is not None and (not seen or seen[-1] != status):
                seen.append(status)
            if (
                status == health_pb2.HealthCheckResponse.NOT_SERVING
                and not unavailable_while_warming
            ):
                # The liveness name answers SERVING while the model warms up (no restart loop).
                alive_while_warming = (
                    server.health("liveness") == health_pb2.HealthCheckResponse.SERVING
                )
                with Seq2SeqClient(server.target, timeout=10) as client:
                    try:
                        client.translate(["The dog sees the cat."], "en", "de")
                    except ClientError as exc:
                        unavailable_while_warming = exc.code is grpc.StatusCode.UNAVAILABLE
            if status == health_pb2.HealthCheckResponse.SERVING:
                break
            time.sleep(0.01)
        assert seen[:1] == [health_pb2.HealthCheckResponse.NOT_SERVING], server.log()
        assert seen[-1] == health_pb2.HealthCheckResponse.SERVING
        assert unavailable_while_warming
        assert alive_while_warming
    finally:
        assert server.terminate() == 0


def test_reflection_lets_a_generic_client_call_with_json(demo_server: ServerProcess) -> None:
    """What grpcurl does: discover the schema by reflection, send JSON, read JSON back."""
    with grpc.insecure_channel(demo_server.target) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = database.get_services()
        assert SERVICE in services
        assert "grpc.health.v1.Health" in services
        pool = descriptor_pool.DescriptorPool(database)
        method = pool.FindServiceByName(SERVICE).methods_by_name["Translate"]
        request_class = message_factory.GetMessageClass(method.input_type)
        response_class = message_factory.GetMessageClass(method.output_type)
        request = json_format.Parse(
            '{"texts": ["The dog sees the cat."], "sourceLanguage": "en",'
            ' "targetLanguage": "de", "options": {"beamSize": 2}}',
            request_class(),
        )
        call = channel.unary_unary(
            f"/{SERVICE}/Translate",
            request_serializer=request_class.SerializeToString,
            response_deserializer=response_class.FromString,
        )
        reply = json_format.MessageToDict(call(request, timeout=60))
        assert reply["results"][0]["text"]
        assert reply["modelRevision"].startswith("sha256:")


def test_overall_health_is_serving(demo_server: ServerProcess) -> None:
    assert demo_server.health("") == health_pb2.HealthCheckResponse.SERVING
    assert demo_server.health(SERVICE) == health_pb2.HealthCheckResponse.SERVING
