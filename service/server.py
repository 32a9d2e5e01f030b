"""The grpc.aio server: interceptors, TLS, health, reflection, warm-up and graceful stop.

Start-up order: listen first (health NOT_SERVING, calls answered UNAVAILABLE), load and warm up
every model through the real request path, then turn SERVING. Anything that stops start-up
(a port in use, unreadable certificates, a broken model) is a `StartupError` whose message names
the setting to change. On SIGTERM/SIGINT: turn NOT_SERVING, stop accepting calls, let in-flight
calls finish within the grace period, answer what is left UNAVAILABLE, exit. SIGHUP re-reads the
certificate and token files at once (they are also re-checked every few seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from service import metrics
from service.api import seq2seq_pb2 as pb
from service.api import seq2seq_pb2_grpc as pb_grpc
from service.auth import TokenFile, TokenFileError
from service.cache import Caches, build_caches
from service.config import ENV_PREFIX, Settings
from service.documents.detection import DetectionConfig, LanguageDetector
from service.interceptors import ServiceInterceptor
from service.manifest import Manifest, ManifestError
from service.model import ServedModel
from service.pipeline import Pipeline
from service.registry import EngineFactory, Registry, default_engine_factory
from service.servicer import Seq2SeqServicer
from service.tls import ReloadingCertificates, TlsFileError
from service.types import DecodingOptions, GenerationRequest, Task
from service.version import package_version, source_revision

log = structlog.get_logger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Seq2SeqService"].full_name
# Liveness probes ask for this name: SERVING as long as the event loop answers, whatever the
# models do; readiness ('' and SERVICE_NAME) waits for them, so a slow model never restart-loops.
LIVENESS_SERVICE = "liveness"

# Shutdown: queued and running work still unanswered this long before the grace period ends is
# answered UNAVAILABLE ("retry on another replica"), so callers hear back before gRPC cancels
# (half a short grace period at most). Half a second proved too tight on a busy 2-core host.
ANSWER_RESERVE_S = 1.0
# What the process may take beyond --grace-seconds to exit (documented; deploy/ sets
# stop_grace_period / terminationGracePeriodSeconds to at least grace + this).
SHUTDOWN_MARGIN_S = 2.0
CACHE_CLOSE_S = 0.5


class StartupError(Exception):
    """The server cannot start; the message says what to change (flag and env variable)."""


def _flag(name: str) -> str:
    return f"--{name.replace('_', '-')} / {ENV_PREFIX}{name.upper()}"


class Server:
    """One running service: owns the gRPC server, the registry and the shutdown sequence."""

    def __init__(self, settings: Settings, engine_factory: EngineFactory = default_engine_factory):
        self.settings = settings
        self._engine_factory = engine_factory
        security = settings.security
        tokens_file = security.auth_tokens_file
        try:
            self.tokens = TokenFile(tokens_file) if tokens_file is not None else None
        except TokenFileError as exc:
            raise StartupError(f"{exc} ({_flag('auth_tokens_file')})") from None
        try:
            self.certificates = (
                ReloadingCertificates(security.tls_cert, security.tls_key, security.tls_client_ca)
                if security.tls_cert is not None and security.tls_key is not None
                else None
            )
        except TlsFileError as exc:
            raise StartupError(f"{exc} ({_flag('tls_cert')}, {_flag('tls_key')})") from None
        network = settings.network
        self._grpc = grpc.aio.server(
            interceptors=[
                ServiceInterceptor(
                    max_request_bytes=settings.request_bytes(),
                    auth=self.tokens.authenticator if self.tokens else None,
                )
            ],
            options=[
                ("grpc.max_receive_message_length", settings.request_bytes()),
                ("grpc.so_reuseport", 0),
                *network.grpc_options(),
            ],
            maximum_concurrent_rpcs=network.max_concurrent_rpcs,
        )
        self.health = health.aio.HealthServicer()
        self.registry: Registry | None = None
        self.caches = Caches()
        self.port = 0
        self._servicer = Seq2SeqServicer()
        self._watcher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        settings = self.settings
        pb_grpc.add_Seq2SeqServiceServicer_to_server(self._servicer, self._grpc)  # type: ignore[no-untyped-call]
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._grpc)
        if settings.network.reflection:
            reflection.enable_server_reflection(
                (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), self._grpc
            )
        await self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        await self.health.set(LIVENESS_SERVICE, health_pb2.HealthCheckResponse.SERVING)
        self.port = self._listen()
        # Load models before registering the servicer's pipeline, but after the port is bound, so
        # health checks answer NOT_SERVING while loading.
        await self._grpc.start()
        log.info("listening", host=settings.host, port=self.port, tls=self.certificates is not None)
        self._watcher = asyncio.create_task(self._watch_files())
        started = time.perf_counter()
        # Built before the engines (torch engines get the encoder cache), started after them.
        self.caches = caches = build_caches(settings)
        # Its own thread, not asyncio's default executor: a SIGTERM during a long load must not
        # make the process wait for the load to finish before it can exit.
        # The language detector's model loads beside the engines (a second thread); both are
        # ready before the cache starts its Redis monitor, whose first ping a GIL-holding load
        # could time out.
        loader = ThreadPoolExecutor(2, thread_name_prefix="load-models")
        loop = asyncio.get_running_loop()
        detecting = None
        if settings.language_detection:
            config = DetectionConfig(
                min_confidence=settings.detection_min_confidence,
                min_letters=settings.detection_min_letters,
            )
            detecting = loop.run_in_executor(loader, LanguageDetector, config)
        try:
            registry = await loop.run_in_executor(
                loader,
                Registry.load,
                settings,
                self._engine_factory,
                metrics.BatcherMetrics,
                caches.encoder,
            )
            detector = await detecting if detecting is not None else None
        except ManifestError as exc:
            raise StartupError(f"{exc} (--models / {ENV_PREFIX}MODELS_DIR)") from None
        finally:
            loader.shutdown(wait=False)
        self.registry = registry
        if not any(m.manifest.translation for m in registry.models):
            detector = None  # nothing to detect a source language for
        await caches.start()  # the Redis monitor, and the encoder cache binds to this loop
        pipeline = Pipeline(
            registry,
            settings.limits,
            cache=caches.results,
            detector=detector,
            log_text=settings.log_text,
        )
        metrics.watch_models(
            lambda: [metrics.ModelSnapshot(m.info(), m.batcher.stats()) for m in registry.models]
        )
        await registry.start()
        self._servicer.pipeline = pipeline
        for served in registry.models:
            await self._warm_up(pipeline, served)
        await self._set_health(health_pb2.HealthCheckResponse.SERVING)
        log.info("serving", port=self.port, startup_seconds=round(time.perf_counter() - started, 3))

    def _listen(self) -> int:
        address = f"{self.settings.host}:{self.settings.port}"
        problem = _port_problem(self.settings.host, self.settings.port)
        if problem:  # checked first: gRPC's own bind failure also prints a core error line
            raise StartupError(
                f"cannot listen on {address}: {problem}; choose another with {_flag('port')} "
                f"(or {_flag('host')})"
            )
        try:
            if self.certificates is not None:
                port = int(self._grpc.add_secure_port(address, self.certificates.credentials()))
            else:
                port = int(self._grpc.add_insecure_port(address))
        except RuntimeError:
            port = 0
        if port == 0:
            raise StartupError(
                f"cannot listen on {address}: the port is in use or the address is not local; "
                f"choose another with {_flag('port')} (or {_flag('host')})"
            )
        return port

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

    def reload_files(self, force: bool = False) -> None:
        """Re-read the certificate and token files if they changed (always when ``force``)."""
        if self.certificates is not None:
            self.certificates.check(force)
        if self.tokens is not None:
            self.tokens.check(force)

    async def _watch_files(self) -> None:
        if self.certificates is None and self.tokens is None:
            return
        while True:
            await asyncio.sleep(self.settings.security.reload_seconds)
            self.reload_files()

    async def stop(self, grace: float | None = None) -> bool:
        """Stop within ``grace`` seconds; True if every engine call had finished by then (the
        engines are closed), False if one is still running (the process should exit anyway)."""
        grace = self.settings.grace_seconds if grace is None else grace
        if self.port:  # a server that never listened has nothing to shut down
            log.info("shutting_down", grace_seconds=grace)
        if self._watcher is not None:
            self._watcher.cancel()
        await self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        # gRPC refuses new calls at once and cancels what still runs after `grace`; the batchers
        # finish what they hold, and answer the rest UNAVAILABLE just before that.
        draining = (
            self.registry.drain(max(0.0, grace - min(ANSWER_RESERVE_S, grace / 2)))
            if self.registry is not None
            else asyncio.sleep(0)
        )
        await asyncio.gather(self._grpc.stop(grace), draining)
        idle = self.registry.close_engines() if self.registry is not None else True
        if self._servicer.pipeline is not None:
            self._servicer.pipeline.close()
        # Pending cache writes get a moment (within the shutdown margin), then are dropped.
        await self.caches.close(timeout=CACHE_CLOSE_S)
        if self.port:
            log.info("stopped", engines_idle=idle)
        return idle

    async def wait(self) -> None:
        await self._grpc.wait_for_termination()


def _port_problem(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on (in use, not a local address), or None."""
    if port == 0:
        return None
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        return f"the host does not resolve ({exc.strerror or exc})"
    for family, kind, proto, _, sockaddr in addresses:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gRPC binds
            try:
                sock.bind(sockaddr)
            except OSError as exc:
                return exc.strerror or str(exc)
    return None


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


async def serve(settings: Settings, engine_factory: EngineFactory = default_engine_factory) -> bool:
    """Run until SIGTERM or SIGINT, then stop gracefully. Returns whether every engine call
    finished (False: one is still running and the caller should exit without waiting for it).
    Raises `StartupError` when the server cannot start."""
    metrics.set_build_info(package_version(), source_revision(settings.build_revision))
    server = Server(settings, engine_factory)
    if settings.metrics_port:
        try:
            metrics.start_exporter(settings.metrics_host, settings.metrics_port)
        except OSError as exc:
            raise StartupError(
                f"cannot serve metrics on {settings.metrics_host}:{settings.metrics_port}: "
                f"{exc.strerror or exc}; choose another port with {_flag('metrics_port')} "
                "(0 turns the endpoint off)"
            ) from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, server.reload_files, True)
    starting = asyncio.create_task(server.start())
    stopped = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({starting, stopped}, return_when=asyncio.FIRST_COMPLETED)
    if starting in done and starting.exception() is not None:
        await server.stop(grace=0)
        stopped.cancel()
        raise starting.exception()  # type: ignore[misc]  # start-up errors end the process
    loaded = True
    if starting in done:
        await stopped
    else:
        loaded = False  # a model may still be loading in a worker thread: do not wait for it
        starting.cancel()
        with contextlib.suppress(asyncio.CancelledError, StartupError):
            await starting
    return await server.stop() and loaded
