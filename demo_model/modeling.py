"""The demo model's architecture presets and its serving sidecar.

The full preset trains in about 27 minutes on two CPU cores (one run of 2,600 steps, see
``demo_model/train.py``) and learns the grammar (99 % exact match on held-out translations);
``tiny`` exists for the pipeline test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from converters.sidecar import ServingSpec
from demo_model import MODEL_NAME, SUMMARIZE_PREFIX, TRANSLATE_PREFIX
from service.manifest import SummarizationRoute, TranslationRoute
from service.types import DecodingOptions

if TYPE_CHECKING:
    from transformers import T5ForConditionalGeneration

PAD_ID, EOS_ID, UNK_ID = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Preset:
    d_model: int
    d_ff: int
    num_layers: int
    num_decoder_layers: int
    num_heads: int
    vocab_size: int  # sentencepiece vocabulary to train


PRESETS: dict[str, Preset] = {
    "full": Preset(d_model=256, d_ff=1024, num_layers=4, num_decoder_layers=4, num_heads=4,
                   vocab_size=4000),
    "tiny": Preset(d_model=64, d_ff=128, num_layers=2, num_decoder_layers=2, num_heads=2,
                   vocab_size=1000),
}  # fmt: skip


def build_model(preset: Preset, vocab_size: int) -> T5ForConditionalGeneration:
    """A randomly initialised T5 (relu FFN, tied embeddings, no dropout: the data is clean)."""
    from transformers import T5Config, T5ForConditionalGeneration

    config = T5Config(
        vocab_size=vocab_size,
        d_model=preset.d_model,
        d_kv=preset.d_model // preset.num_heads,
        d_ff=preset.d_ff,
        num_layers=preset.num_layers,
        num_decoder_layers=preset.num_decoder_layers,
        num_heads=preset.num_heads,
        relative_attention_num_buckets=32,
        relative_attention_max_distance=128,
        dropout_rate=0.0,
        feed_forward_proj="relu",
        tie_word_embeddings=True,
        pad_token_id=PAD_ID,
        eos_token_id=EOS_ID,
        decoder_start_token_id=PAD_ID,
    )
    return T5ForConditionalGeneration(config)


def serving_spec(*, max_length: int = 128) -> ServingSpec:
    """The sidecar the converter turns into the manifest's tasks and defaults."""
    return ServingSpec(
        name=MODEL_NAME,
        description=(
            "Demo T5 trained from scratch on generated data: English→German sentences from a "
            "controlled vocabulary, and English news-report headlines (see docs/demo-model.md)."
        ),
        translation=(TranslationRoute("en", "de", input_template=TRANSLATE_PREFIX + "{text}"),),
        summarization=(SummarizationRoute("en", input_template=SUMMARIZE_PREFIX + "{text}"),),
        default_options=DecodingOptions(beam_size=1, max_length=max_length),
        max_input_tokens=256,
    )
