"""A served model: manifest, tokenizer, engine and batcher, and the text ⇄ token steps."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from service.batching import Batcher
from service.engines.base import Engine, EngineInput, EngineOutput
from service.manifest import Manifest, TranslationRoute
from service.model_info import ModelInfo
from service.routing import Route
from service.tokenization import Tokenizer
from service.types import GeneratedText, Hypothesis, ResolvedOptions


@dataclass(slots=True)
class ServedModel:
    manifest: Manifest
    revision: str
    tokenizer: Tokenizer
    engine: Engine
    batcher: Batcher
    ready: bool = False
    warmup_seconds: float = 0.0
    template_tokens: dict[str, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.manifest.name

    def encode(
        self,
        text: str,
        route: Route,
        options: ResolvedOptions | None = None,
        *,
        relative_limit: bool = True,
    ) -> EngineInput:
        """One text with the route's template, as engine tokens (no length check).

        For translation with ``relative_limit`` (the request left ``max_length`` unset) the text
        gets its own output limit from the manifest's factor and offset (see `Manifest`), never
        above ``options.max_length`` nor below ``options.min_length``.
        """
        body = self.tokenizer.encode(route.input_template.format(text=text))
        # Language tokens around the text (mBART-50, M2M100, NLLB) come from the route.
        tokens = [*route.source_prefix, *body, *route.source_suffix]
        max_length = None
        manifest = self.manifest
        if (
            relative_limit
            and options is not None
            and isinstance(route, TranslationRoute)
            and manifest.max_length_factor > 0
        ):
            own = max(1, len(body) - self._template_tokens(route))
            bound = math.ceil(manifest.max_length_factor * own) + manifest.max_length_offset
            max_length = max(options.min_length, 1, min(options.max_length, bound))
        return EngineInput(tuple(tokens), tuple(route.target_prefix), max_length)

    def _template_tokens(self, route: Route) -> int:
        """Tokens the route's template (and the model's special tokens) add to every text."""
        key = route.input_template
        if key not in self.template_tokens:
            self.template_tokens[key] = len(self.tokenizer.encode(key.format(text="")))
        return self.template_tokens[key]

    def detokenize(
        self, inputs: list[EngineInput], outputs: list[EngineOutput], *, with_scores: bool
    ) -> tuple[GeneratedText, ...]:
        """Turn the engine's outputs into text, dropping any forced target prefix."""
        results = []
        for item, output in zip(inputs, outputs, strict=True):
            skip = len(item.target_prefix)
            hypotheses = []
            for hyp in output.hypotheses:
                tokens = hyp.tokens
                if skip and tokens[:skip] == item.target_prefix:
                    tokens = tokens[skip:]
                hypotheses.append(
                    Hypothesis(
                        text=self.tokenizer.decode(tokens),
                        output_tokens=len(tokens),
                        score=hyp.score if with_scores else None,
                    )
                )
            results.append(GeneratedText(tuple(hypotheses), input_tokens=len(item.source)))
        return tuple(results)

    def info(self) -> ModelInfo:
        """What ListModels and the metrics report about this model."""
        manifest = self.manifest
        engine = self.engine.info
        pairs = [(r.source_language, r.target_language) for r in manifest.translation]
        if manifest.languages is not None:
            declared = set(pairs)
            pairs += [p for p in manifest.languages.pairs() if p not in declared]
        return ModelInfo(
            name=self.name,
            revision=self.revision,
            family=manifest.family,
            engine=engine.engine,
            device=engine.device,
            compute_type=engine.compute_type,
            translation_pairs=tuple(pairs),
            summarization_languages=tuple(r.language for r in manifest.summarization),
            default_options=manifest.default_options,
            max_input_tokens=manifest.max_input_tokens,
            supports_seed=engine.supports_seed,
            ready=self.ready,
            description=manifest.description,
            translation_languages=tuple(sorted(manifest.languages.codes))
            if manifest.languages
            else (),
            max_output_tokens=max_output_tokens(manifest) or 0,
            default_segmentation=manifest.segmentation,
            default_truncation=manifest.truncation,
        )


def max_output_tokens(manifest: Manifest) -> int | None:
    """The model's cap on max_length over its routes (None: the decoder has no limit)."""
    prefixes: list[tuple[str, ...]] = [r.target_prefix for r in manifest.translation]
    prefixes += [r.target_prefix for r in manifest.summarization]
    if manifest.languages is not None:
        prefixes.append(manifest.languages.target_prefix)
    if manifest.max_decoder_positions is None or not prefixes:
        return None
    return manifest.max_output_tokens(max(prefixes, key=len))
