"""What ListModels reports about a served model, and its wire conversion (split from
`service.types` to keep each module readable in one sitting)."""

from __future__ import annotations

from dataclasses import dataclass

from service.api import seq2seq_pb2 as pb
from service.types import DecodingOptions, Segmentation, Truncation


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What ListModels reports about one served model."""

    name: str
    revision: str
    family: str
    engine: str
    device: str
    compute_type: str
    translation_pairs: tuple[tuple[str, str], ...]
    summarization_languages: tuple[str, ...]
    default_options: DecodingOptions
    max_input_tokens: int
    supports_seed: bool
    ready: bool
    description: str = ""
    translation_languages: tuple[str, ...] = ()  # many-to-many models: any one into any other
    max_output_tokens: int = 0  # the model's own cap on max_length (0: only the server's)
    default_segmentation: Segmentation = Segmentation.AUTO
    default_truncation: Truncation = Truncation.HEAD

    def to_pb(self) -> pb.ModelInfo:
        return pb.ModelInfo(
            name=self.name,
            revision=self.revision,
            family=self.family,
            engine=self.engine,
            device=self.device,
            compute_type=self.compute_type,
            translation_pairs=[
                pb.LanguagePair(source_language=s, target_language=t)
                for s, t in self.translation_pairs
            ],
            summarization_languages=list(self.summarization_languages),
            default_options=self.default_options.to_pb(),
            max_input_tokens=self.max_input_tokens,
            supports_seed=self.supports_seed,
            ready=self.ready,
            description=self.description,
            translation_languages=list(self.translation_languages),
            max_output_tokens=self.max_output_tokens,
            default_segmentation=self.default_segmentation.to_pb(),
            default_truncation=self.default_truncation.to_pb(),
        )

    @classmethod
    def from_pb(cls, msg: pb.ModelInfo) -> ModelInfo:
        return cls(
            name=msg.name,
            revision=msg.revision,
            family=msg.family,
            engine=msg.engine,
            device=msg.device,
            compute_type=msg.compute_type,
            translation_pairs=tuple(
                (p.source_language, p.target_language) for p in msg.translation_pairs
            ),
            summarization_languages=tuple(msg.summarization_languages),
            default_options=DecodingOptions.from_pb(msg.default_options),
            max_input_tokens=msg.max_input_tokens,
            supports_seed=msg.supports_seed,
            ready=msg.ready,
            description=msg.description,
            translation_languages=tuple(msg.translation_languages),
            max_output_tokens=msg.max_output_tokens,
            default_segmentation=Segmentation.from_pb(msg.default_segmentation)
            or Segmentation.AUTO,
            default_truncation=Truncation.from_pb(msg.default_truncation) or Truncation.HEAD,
        )
