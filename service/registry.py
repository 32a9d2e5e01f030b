"""Model registry: a directory of model directories → served models, and request routing.

Routing: an explicit model name wins; otherwise the first model (by name) that does the task
for the requested languages. Language codes match case-insensitively, and a regional code falls
back to its primary language (``de-AT`` is served by a model for ``de``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path

import structlog

from service.batcher import Batcher, BatchObserver
from service.config import Settings
from service.engines.base import Engine
from service.errors import ModelNotFound, RouteNotFound
from service.manifest import MANIFEST_FILE, ManifestError, compute_revision, load_manifest
from service.model import Route, ServedModel
from service.tokenization import load_tokenizer
from service.types import Task
from service.validation import normalize_language

log = structlog.get_logger(__name__)

EngineFactory = Callable[[Path, str, Settings], Engine]
"""(model directory, model family, settings) → engine."""


def ct2_engine_factory(model_dir: Path, family: str, settings: Settings) -> Engine:
    from service.engines.ct2 import CT2Engine

    inter, intra = settings.resolve_threads()
    return CT2Engine(
        model_dir,
        device=settings.device,
        device_index=settings.device_index,
        compute_type=settings.compute_type_for(family),
        inter_threads=inter,
        intra_threads=intra,
        thread_nice=settings.resolve_engine_nice(),
    )


class Registry:
    def __init__(self, models: Iterable[ServedModel]) -> None:
        self._models = {m.name: m for m in sorted(models, key=lambda m: m.name)}

    @classmethod
    def load(
        cls,
        settings: Settings,
        engine_factory: EngineFactory = ct2_engine_factory,
        observer_factory: Callable[[str], BatchObserver] | None = None,
    ) -> Registry:
        """Load every model directory under ``settings.models_dir``; fail loudly on a broken one."""
        root = settings.models_dir
        model_dirs = sorted(p.parent for p in root.glob(f"*/{MANIFEST_FILE}"))
        if (root / MANIFEST_FILE).is_file():
            model_dirs.insert(0, root)  # a single model directory works as a registry too
        if not model_dirs:
            raise ManifestError(f"no model found in {root}: expected */{MANIFEST_FILE}")
        models = []
        for model_dir in model_dirs:
            started = time.perf_counter()
            manifest = load_manifest(model_dir)
            revision = compute_revision(model_dir)
            if revision != manifest.revision:
                raise ManifestError(
                    f"{model_dir}: files do not match the manifest's revision "
                    f"({manifest.revision}, files give {revision}); re-run s2s convert"
                )
            engine = engine_factory(model_dir, manifest.family, settings)
            observer = observer_factory(manifest.name) if observer_factory else None
            batcher = Batcher(engine, settings.batching, name=manifest.name, observer=observer)
            models.append(
                ServedModel(
                    manifest=manifest,
                    path=model_dir,
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
                device=engine.info.device,
                compute_type=engine.info.compute_type,
                parallelism=engine.parallelism,
                seconds=round(time.perf_counter() - started, 3),
            )
        names = [m.name for m in models]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ManifestError(f"model names must be unique; duplicated: {duplicates}")
        return cls(models)

    @property
    def models(self) -> list[ServedModel]:
        return list(self._models.values())

    def get(self, name: str) -> ServedModel:
        try:
            return self._models[name]
        except KeyError:
            raise ModelNotFound(
                f"model {name!r} is not served; served models: {', '.join(self._models) or 'none'}",
                model=name,
            ) from None

    def route(
        self,
        task: Task,
        *,
        model: str | None,
        source: str | None,
        target: str | None = None,
    ) -> tuple[ServedModel, Route]:
        candidates = [self.get(model)] if model else list(self._models.values())
        for served in candidates:
            found = _find_route(served, task, source, target)
            if found is not None:
                return served, found
        wanted = _describe(task, source, target)
        if model:
            offered = _offers(candidates[0], task)
            raise RouteNotFound(
                f"model {model!r} does not {wanted}; it offers: {offered or 'no ' + task.value}",
                route=wanted,
            )
        offered = "; ".join(f"{m.name}: {_offers(m, task)}" for m in self._models.values())
        raise RouteNotFound(f"no served model can {wanted}; served: {offered}", route=wanted)


def _find_route(
    served: ServedModel, task: Task, source: str | None, target: str | None
) -> Route | None:
    src = normalize_language(source or "")
    tgt = normalize_language(target or "")
    manifest = served.manifest
    for exact in (True, False):
        if task is Task.TRANSLATE:
            for route in manifest.translation:
                if _lang_match(route.source_language, src, exact) and _lang_match(
                    route.target_language, tgt, exact
                ):
                    return route
        else:
            for s_route in manifest.summarization:
                if not src or _lang_match(s_route.language, src, exact):
                    return s_route
    return None


def _lang_match(served: str, wanted: str, exact: bool) -> bool:
    served = normalize_language(served)
    return served == wanted if exact else served == wanted.split("-")[0]


def _describe(task: Task, source: str | None, target: str | None) -> str:
    if task is Task.TRANSLATE:
        return f"translate {source}→{target}"
    return f"summarize {source or 'en'} text"


def _offers(served: ServedModel, task: Task) -> str:
    if task is Task.TRANSLATE:
        return ", ".join(
            f"{r.source_language}→{r.target_language}" for r in served.manifest.translation
        )
    return ", ".join(f"summarize {r.language}" for r in served.manifest.summarization)
