"""A served model: manifest, tokenizer, engine and batcher, and the text ⇄ token steps."""

from __future__ import annotations

from dataclasses import dataclass

from service.batching import Batcher
from service.engines.base import Engine, EngineInput, EngineOutput
from service.errors import FieldViolation, InvalidInput
from service.manifest import Manifest
from service.routing import Route
from service.tokenization import Tokenizer
from service.types import GeneratedText, Hypothesis, ModelInfo


@dataclass(slots=True)
class ServedModel:
    manifest: Manifest
    revision: str
    tokenizer: Tokenizer
    engine: Engine
    batcher: Batcher
    ready: bool = False
    warmup_seconds: float = 0.0

    @property
    def name(self) -> str:
        return self.manifest.name

    def tokenize(self, texts: tuple[str, ...], route: Route) -> list[EngineInput]:
        """Apply the task template, tokenize and put the route's language tokens around the
        text (mBART-50, M2M100, NLLB); reject texts longer than the model reads."""
        inputs: list[EngineInput] = []
        problems: list[FieldViolation] = []
        limit = self.manifest.max_input_tokens
        prefix = tuple(route.target_prefix)
        for i, text in enumerate(texts):
            body = self.tokenizer.encode(route.input_template.format(text=text))
            tokens = [*route.source_prefix, *body, *route.source_suffix]
            if len(tokens) > limit:
                problems.append(
                    FieldViolation(
                        f"texts[{i}]",
                        f"is {len(tokens)} tokens long with the task prefix; model "
                        f"{self.name} reads at most {limit} tokens; shorten or split the text",
                    )
                )
            inputs.append(EngineInput(tuple(tokens), prefix))
        if problems:
            raise InvalidInput(problems)
        return inputs

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
