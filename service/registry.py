"""Model registry: a directory of model directories → served models, plus their lifecycle.

Loading checks each manifest against its files (the revision digest) before an engine is built;
routing is delegated to `service.routing.Router`, which needs manifests only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import structlog

from service.batching import Batcher, BatchObserver
from service.config import Settings
from service.engines.factory import EngineContext, EngineFactory, default_engine_factory
from service.manifest import MANIFEST_FILE, ManifestError, compute_revision, load_manifest
from service.model import ServedModel
from service.routing import Route, Router
from service.tokenization import load_tokenizer
from service.types import Task

if TYPE_CHECKING:
    from service.cache.encoder import EncoderCache

log = structlog.get_logger(__name__)

__all__ = ["EngineContext", "EngineFactory", "Registry", "default_engine_factory"]


class Registry:
    def __init__(self, models: Iterable[ServedModel]) -> None:
        self._models = {m.name: m for m in sorted(models, key=lambda m: m.name)}
        self._router = Router(m.manifest for m in self._models.values())

    @classmethod
    def load(
        cls,
        settings: Settings,
        engine_factory: EngineFactory = default_engine_factory,
        observer_factory: Callable[[str], BatchObserver] | None = None,
        encoder_cache: EncoderCache | None = None,
    ) -> Registry:
        """Load every model directory under ``settings.models_dir``; fail loudly on a broken one.

        Each manifest's ``engine`` picks the engine (``engine_factory``); ``encoder_cache`` is
        offered to engines that reuse encoder outputs (the torch engine)."""
        context = EngineContext(settings, encoder_cache)
        root = settings.models_dir
        model_dirs = sorted(p.parent for p in root.glob(f"*/{MANIFEST_FILE}"))
        if (root / MANIFEST_FILE).is_file():
            model_dirs.insert(0, root)  # a single model directory works as a registry too
        if not model_dirs:
            raise ManifestError(f"no model found in {root}: expected */{MANIFEST_FILE}")
        manifests = [(d, load_manifest(d)) for d in model_dirs]
        names = [m.name for _, m in manifests]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ManifestError(f"model names must be unique; duplicated: {duplicates}")
        models = []
        for model_dir, manifest in manifests:
            started = time.perf_counter()
            revision = compute_revision(model_dir)
            if revision != manifest.revision:
                raise ManifestError(
                    f"{model_dir}: files do not match the manifest's revision "
                    f"({manifest.revision}, files give {revision}); re-run s2s convert"
                )
            engine = engine_factory(model_dir, manifest, context)
            observer = observer_factory(manifest.name) if observer_factory else None
            batcher = Batcher(engine, settings.batching, name=manifest.name, observer=observer)
            models.append(
                ServedModel(
                    manifest=manifest,
                    revision=revision,
                    tokenizer=load_tokenizer(manifest.tokenizer, model_dir),
                    engine=engine,
                    batcher=batcher,
                )
            )
            log.info(
                "model_loaded",
                model=manifest.name,
                revision=revision,
                family=manifest.family,
                engine=engine.info.engine,
                device=engine.info.device,
                compute_type=engine.info.compute_type,
                parallelism=engine.parallelism,
                seconds=round(time.perf_counter() - started, 3),
            )
        return cls(models)

    @property
    def models(self) -> list[ServedModel]:
        return list(self._models.values())

    def get(self, name: str) -> ServedModel:
        return self._models[self._router.get(name).name]

    def route(
        self, task: Task, *, model: str | None, source: str | None, target: str | None = None
    ) -> tuple[ServedModel, Route]:
        manifest, route = self._router.route(task, model=model, source=source, target=target)
        return self._models[manifest.name], route

    def translation_sources(self, target: str | None, *, model: str | None) -> list[str]:
        return self._router.translation_sources(target, model=model)

    async def start(self) -> None:
        for served in self._models.values():
            await served.batcher.start()

    async def drain(self, timeout: float) -> None:
        """Let every model's batcher finish its work within ``timeout`` seconds (together, not
        one after the other); what is left is answered `ShuttingDown`."""
        await asyncio.gather(*(m.batcher.close(timeout=timeout) for m in self._models.values()))

    def close_engines(self) -> bool:
        """Free every engine that is idle; False if one still runs an abandoned call (it keeps
        its memory until the process exits, which must not wait for it)."""
        idle = True
        for served in self._models.values():
            if served.batcher.busy:
                idle = False
                log.warning("engine_call_abandoned", model=served.name)
                continue
            served.engine.close()
        return idle

    async def close(self, grace: float) -> bool:
        """Drain within ``grace`` seconds, then free the engines (see `close_engines`)."""
        await self.drain(grace)
        return self.close_engines()

    def mark_ready(self, name: str, warmup_seconds: float) -> None:
        served = self._models[name]
        served.ready = True
        served.warmup_seconds = warmup_seconds
