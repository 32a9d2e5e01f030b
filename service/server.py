"""The grpc.aio server: interceptors, health, reflection, warm-up and graceful stop.

Start-up order: listen first (health NOT_SERVING, calls answered UNAVAILABLE), load and warm up
every model through the real request path, then turn SERVING. On SIGTERM/SIGINT: turn
NOT_SERVING, stop accepting calls, let in-flight calls finish within the grace period, exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from service import metrics
from service.api import seq2seq_pb2 as pb
from service.api import seq2seq_pb2_grpc as pb_grpc
from service.cache import ResultCache, build_result_cache
from service.config import Settings
from service.interceptors import ServiceInterceptor
from service.manifest import Manifest
from service.model import ServedModel
from service.pipeline import Pipeline
from service.registry import EngineFactory, Registry, ct2_engine_factory
from service.servicer import Seq2SeqServicer
from service.types import DecodingOptions, GenerationRequest, Task
from service.version import package_version, source_revision

log = structlog.get_logger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Seq2SeqService"].full_name
# Liveness probes ask for this name: SERVING as long as the event loop answers, whatever the
# models do; readiness ('' and SERVICE_NAME) waits for them, so a slow model never restart-loops.
LIVENESS_SERVICE = "liveness"


class Server:
    """One running service: owns the gRPC server, the registry and the shutdown sequence."""

    def __init__(self, settings: Settings, engine_factory: EngineFactory = ct2_engine_factory):
        self.settings = settings
        self._engine_factory = engine_factory
        self._grpc = grpc.aio.server(
            interceptors=[ServiceInterceptor()],
            options=[
                ("grpc.max_receive_message_length", settings.max_message_bytes),
                ("grpc.max_send_message_length", settings.max_message_bytes),
                ("grpc.so_reuseport", 0),
            ],
        )
        self.health = health.aio.HealthServicer()
        self.registry: Registry | None = None
        self.cache: ResultCache | None = None
        self.port = 0
        self._servicer = Seq2SeqServicer()

    async def start(self) -> None:
        settings = self.settings
        pb_grpc.add_Seq2SeqServiceServicer_to_server(self._servicer, self._grpc)  # type: ignore[no-untyped-call]
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._grpc)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), self._grpc
        )
        await self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        await self.health.set(LIVENESS_SERVICE, health_pb2.HealthCheckResponse.SERVING)
        address = f"{settings.host}:{settings.port}"
        self.port = self._grpc.add_insecure_port(address)
        if self.port == 0:
            raise RuntimeError(f"could not listen on {address}")
        # Load models before registering the servicer's pipeline, but after the port is bound, so
        # health checks answer NOT_SERVING while loading.
        await self._grpc.start()
        log.info("listening", host=settings.host, port=self.port)
        started = time.perf_counter()
        registry = await asyncio.to_thread(
            Registry.load, settings, self._engine_factory, metrics.BatcherMetrics
        )
        self.registry = registry
        self.cache = build_result_cache(settings)
        if self.cache is not None:
            await self.cache.start()
        pipeline = Pipeline(registry, settings.limits, cache=self.cache, log_text=settings.log_text)
        metrics.watch_models(
            lambda: [metrics.ModelSnapshot(m.info(), m.batcher.stats()) for m in registry.models]
        )
        await registry.start()
        self._servicer.pipeline = pipeline
        for served in registry.models:
            await self._warm_up(pipeline, served)
        await self._set_health(health_pb2.HealthCheckResponse.SERVING)
        log.info("serving", port=self.port, startup_seconds=round(time.perf_counter() - started, 3))

    async def _warm_up(self, pipeline: Pipeline, served: ServedModel) -> None:
        """Send real requests through the whole path (validation included) so the first caller
        does not pay for the engine's first allocations; the model is ready only after them."""
        assert self.registry is not None
        started = time.perf_counter()
        request = warmup_request(served.manifest)
        for _ in range(max(1, self.settings.warmup_rounds)):
            await pipeline.generate(request, warmup=True)
        structlog.contextvars.clear_contextvars()  # warm-up's request fields are not the server's
        seconds = time.perf_counter() - started
        self.registry.mark_ready(served.name, seconds)
        log.info("model_ready", model=served.name, warmup_seconds=round(seconds, 3))

    async def _set_health(self, status: int) -> None:
        for name in ("", SERVICE_NAME):
            await self.health.set(name, status)

    async def stop(self, grace: float | None = None) -> None:
        grace = self.settings.grace_seconds if grace is None else grace
        log.info("shutting_down", grace_seconds=grace)
        await self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        # Stop accepting new calls; calls in flight get `grace` seconds to finish.
        await self._grpc.stop(grace)
        if self.registry is not None:
            await self.registry.close(grace)
        if self.cache is not None:
            await self.cache.close()
        log.info("stopped")

    async def wait(self) -> None:
        await self._grpc.wait_for_termination()


def warmup_request(manifest: Manifest) -> GenerationRequest:
    """A short request for the model's first route, as a caller would send it."""
    pair = None
    if manifest.translation:
        pair = (manifest.translation[0].source_language, manifest.translation[0].target_language)
    elif manifest.languages is not None:
        first, second = sorted(manifest.languages.codes)[:2]
        pair = (first, second)
    if pair is not None:
        return GenerationRequest(
            Task.TRANSLATE,
            ("Hello.",),
            DecodingOptions(),
            model=manifest.name,
            source_language=pair[0],
            target_language=pair[1],
        )
    return GenerationRequest(
        Task.SUMMARIZE,
        ("Hello.",),
        DecodingOptions(),
        model=manifest.name,
        source_language=manifest.summarization[0].language,
    )


async def serve(settings: Settings, engine_factory: EngineFactory = ct2_engine_factory) -> None:
    """Run until SIGTERM or SIGINT, then stop gracefully."""
    metrics.set_build_info(package_version(), source_revision(settings.build_revision))
    if settings.metrics_port:
        metrics.start_exporter(settings.metrics_host, settings.metrics_port)
    server = Server(settings, engine_factory)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    starting = asyncio.create_task(server.start())
    stopped = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({starting, stopped}, return_when=asyncio.FIRST_COMPLETED)
    if starting in done and starting.exception() is not None:
        await server.stop(grace=0)
        stopped.cancel()
        raise starting.exception()  # type: ignore[misc]  # start-up errors end the process
    if starting in done:
        await stopped
    else:
        starting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await starting
    await server.stop()
