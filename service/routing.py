"""Request routing over model manifests: which model, and which of its routes, serves a call.

An explicit model name wins; otherwise the first model (by name) that does the task for the
requested languages. Language codes match case-insensitively, and a regional code falls back
to its primary language (``de-AT`` is served by a model for ``de``). A many-to-many model
(``Manifest.languages``) serves every pair of its languages, matched by `service.languages`
(``zh-TW`` → ``zh-Hant``), with the language tokens its family needs. Routing needs manifests
only, so it is tested without engines.
"""

from __future__ import annotations

from collections.abc import Iterable

from service.errors import ModelNotFound, RouteNotFound, clip
from service.languages import summarize_codes
from service.manifest import Manifest, SummarizationRoute, TranslationRoute
from service.types import Task
from service.validation import normalize_language

Route = TranslationRoute | SummarizationRoute


class Router:
    def __init__(self, manifests: Iterable[Manifest]) -> None:
        self._manifests = {m.name: m for m in sorted(manifests, key=lambda m: m.name)}

    def get(self, name: str) -> Manifest:
        try:
            return self._manifests[name]
        except KeyError:
            served = ", ".join(self._manifests) or "none"
            raise ModelNotFound(
                f"model {clip(name)} is not served; served models: {served}", model=name
            ) from None

    def route(
        self, task: Task, *, model: str | None, source: str | None, target: str | None = None
    ) -> tuple[Manifest, Route]:
        """The manifest and route for a call; `ModelNotFound` / `RouteNotFound` say what is
        served instead."""
        candidates = [self.get(model)] if model else list(self._manifests.values())
        for manifest in candidates:
            found = find_route(manifest, task, source, target)
            if found is not None:
                return manifest, found
        wanted = _describe(task, source, target)
        if model:
            offered = _offers(candidates[0], task)
            raise RouteNotFound(
                f"model {clip(model)} does not {wanted}; it offers: "
                f"{offered or 'no ' + task.value}",
                route=wanted,
            )
        offered = "; ".join(f"{m.name}: {_offers(m, task)}" for m in self._manifests.values())
        raise RouteNotFound(f"no served model can {wanted}; served: {offered}", route=wanted)

    def translation_sources(self, target: str | None, *, model: str | None) -> list[str]:
        """Source languages (as the manifests spell them) that some served model, or the named
        one, translates into ``target``: what language detection may answer. Raises
        `RouteNotFound` (saying what is served) when there is none."""
        candidates = [self.get(model)] if model else list(self._manifests.values())
        tgt = normalize_language(target or "")
        sources: list[str] = []
        for exact in (True, False):
            for manifest in candidates:
                for route in manifest.translation:
                    if _lang_match(route.target_language, tgt, exact):
                        sources.append(route.source_language)
                codes = manifest.languages
                if exact and codes is not None and codes.resolve(tgt) is not None:
                    sources.extend(c for c in sorted(codes.codes) if c != codes.resolve(tgt))
            if sources:
                return list(dict.fromkeys(sources))
        wanted = f"translate into {target}"
        offered = "; ".join(f"{m.name}: {_offers(m, Task.TRANSLATE)}" for m in candidates)
        raise RouteNotFound(f"no served model can {wanted}; served: {offered}", route=wanted)


def find_route(
    manifest: Manifest, task: Task, source: str | None, target: str | None
) -> Route | None:
    src = normalize_language(source or "")
    tgt = normalize_language(target or "")
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
    if task is Task.TRANSLATE and manifest.languages is not None and source and target:
        return manifest.languages.route(source, target)
    return None


def _lang_match(served: str, wanted: str, exact: bool) -> bool:
    served = normalize_language(served)
    return served == wanted if exact else served == wanted.split("-")[0]


def _describe(task: Task, source: str | None, target: str | None) -> str:
    if task is Task.TRANSLATE:
        return f"translate {(source or '')[:35]}→{(target or '')[:35]}"
    return f"summarize {(source or 'en')[:35]} text"


def _offers(manifest: Manifest, task: Task) -> str:
    if task is Task.TRANSLATE:
        pairs = [f"{r.source_language}→{r.target_language}" for r in manifest.translation]
        if manifest.languages is not None:
            pairs.append(f"any two of {summarize_codes(manifest.languages.codes)}")
        return ", ".join(pairs)
    return ", ".join(f"summarize {r.language}" for r in manifest.summarization)
