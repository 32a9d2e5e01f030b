"""Hugging Face families converted with CTranslate2's ``TransformersConverter``.

The shared part of every Hugging Face family: the engine conversion (with the architecture
facts CTranslate2's loaders read from config keys that only some checkpoints carry), the
decoding defaults of ``generation_config.json``, the position limits, and the reference model
(``transformers`` ``generate``, greedy, with every output-changing processor off) for
``--verify``. The single-pair families (T5 / FLAN-T5 / mT5, Marian, BART, Pegasus) are here;
the many-to-many ones in ``converters.multilingual``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from converters.base import (
    Checkpoint,
    ConversionError,
    FamilyConverter,
    need_convert_extra,
    read_json_object,
)
from converters.reference import Route
from converters.sidecar import ServingSpec
from service.manifest import LanguageCodes, TokenizerSpec, TranslationRoute
from service.types import DecodingOptions


class TransformersFamily(FamilyConverter):
    def config_patches(self, checkpoint: Checkpoint) -> dict[str, Any]:
        """Set on the loaded model's config before CTranslate2 reads it: architecture facts of
        the family's modelling code (e.g. BART is post-norm) that CTranslate2 takes from config
        keys only some checkpoints carry (those saved by recent transformers do not)."""
        return {}

    def ct2_converter(self, checkpoint: Checkpoint) -> Any:
        try:
            from ctranslate2.converters import TransformersConverter
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise need_convert_extra(exc) from exc
        family = self

        class Converter(TransformersConverter):  # type: ignore[misc]
            def load_model(self, model_class: Any, path: str, **kwargs: Any) -> Any:
                model = super().load_model(model_class, path, **kwargs)
                for key, value in family.config_patches(checkpoint).items():
                    setattr(model.config, key, value)
                return model  # not reused for --verify: CTranslate2 may change its tensors

            def load_tokenizer(self, tokenizer_class: Any, path: str, **kwargs: Any) -> Any:
                tokenizer = super().load_tokenizer(tokenizer_class, path, **kwargs)
                family.prepare_tokenizer(tokenizer)
                checkpoint.cache["tokenizer"] = tokenizer
                return tokenizer

        return Converter(str(checkpoint.source), low_cpu_mem_usage=True)

    def prepare_tokenizer(self, tokenizer: Any) -> None:
        """Repair what a tokenizer saved by another transformers version lacks (hook)."""

    def hf_tokenizer(self, checkpoint: Checkpoint) -> Any:
        if "tokenizer" not in checkpoint.cache:
            try:
                from transformers import AutoTokenizer
            except ImportError as exc:  # pragma: no cover - depends on the install
                raise need_convert_extra(exc) from exc
            tokenizer = AutoTokenizer.from_pretrained(str(checkpoint.source))  # type: ignore[no-untyped-call]
            self.prepare_tokenizer(tokenizer)
            checkpoint.cache["tokenizer"] = tokenizer
        return checkpoint.cache["tokenizer"]

    def hf_model(self, checkpoint: Checkpoint) -> Any:
        if "model" not in checkpoint.cache:
            from transformers import AutoModelForSeq2SeqLM

            checkpoint.cache["model"] = AutoModelForSeq2SeqLM.from_pretrained(
                str(checkpoint.source)
            )
        return checkpoint.cache["model"]

    def reference(self, checkpoint: Checkpoint) -> TransformersReference:
        return TransformersReference(
            self.hf_model(checkpoint),
            self.hf_tokenizer(checkpoint),
            codes=self.language_codes(checkpoint),
            src_lang_of=self.src_lang_of,
        )

    def src_lang_of(self, token: str) -> str:
        """The tokenizer's ``src_lang`` value for a language token (``__en__`` → ``en``)."""
        return token

    def versions(self) -> dict[str, str]:
        import transformers

        return {**super().versions(), "transformers": transformers.__version__}

    def max_input_tokens(self, checkpoint: Checkpoint) -> int:
        config = checkpoint.config
        return int(config.get("max_position_embeddings") or config.get("n_positions") or 512)

    def max_decoder_positions(self, checkpoint: Checkpoint) -> int | None:
        value = checkpoint.config.get("max_position_embeddings")
        return int(value) if value else None

    def forced_prefix(self, checkpoint: Checkpoint) -> tuple[str, ...]:
        forced = generation_config(checkpoint).get("forced_bos_token_id")
        if forced is None:
            return ()
        return (str(self.hf_tokenizer(checkpoint).convert_ids_to_tokens(int(forced))),)

    def default_spec(self, checkpoint: Checkpoint) -> ServingSpec:
        n_forced = len(self.forced_prefix(checkpoint))
        return ServingSpec(default_options=generation_defaults(checkpoint, n_forced))


def generation_config(checkpoint: Checkpoint) -> dict[str, Any]:
    """``generation_config.json``, else the generation keys older checkpoints kept in
    ``config.json``."""
    if "generation" not in checkpoint.cache:
        path = checkpoint.source / "generation_config.json"
        checkpoint.cache["generation"] = (
            read_json_object(path) if path.is_file() else dict(checkpoint.config)
        )
    generation: dict[str, Any] = checkpoint.cache["generation"]
    return generation


def generation_defaults(checkpoint: Checkpoint, n_forced: int) -> DecodingOptions:
    """The checkpoint's own decoding settings as the manifest's default options.

    transformers counts the decoder start token and any forced BOS in ``max_length`` and
    ``min_length``; the service counts generated tokens only, so both shrink by those.
    """
    gen = generation_config(checkpoint)
    values: dict[str, Any] = {}
    if isinstance(gen.get("num_beams"), int) and gen["num_beams"] >= 1:
        values["beam_size"] = gen["num_beams"]
    if isinstance(gen.get("max_new_tokens"), int):
        values["max_length"] = gen["max_new_tokens"]
    elif isinstance(gen.get("max_length"), int):
        values["max_length"] = max(1, gen["max_length"] - 1 - n_forced)
    if isinstance(gen.get("min_new_tokens"), int):
        values["min_length"] = gen["min_new_tokens"]
    elif isinstance(gen.get("min_length"), int) and gen["min_length"] > 0:
        values["min_length"] = max(0, gen["min_length"] - 1 - n_forced)
    for key, option in (
        ("length_penalty", "length_penalty"),
        ("repetition_penalty", "repetition_penalty"),
    ):
        if isinstance(gen.get(key), int | float):
            values[option] = float(gen[key])
    if isinstance(gen.get("no_repeat_ngram_size"), int):
        values["no_repeat_ngram_size"] = gen["no_repeat_ngram_size"]
    return DecodingOptions(**values)


class TransformersReference:
    """The checkpoint in PyTorch, decoding greedily through ``generate``."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        codes: LanguageCodes | None,
        src_lang_of: Any,
    ) -> None:
        import transformers

        self.description = f"transformers {transformers.__version__} generate (greedy)"
        self._model = model.float().eval()
        self._tokenizer = tokenizer
        self._codes = codes
        self._src_lang_of = src_lang_of
        config = self._model.config
        self._start = int(config.decoder_start_token_id)
        self._eos = int(config.eos_token_id)
        # Greedy search with nothing that changes the output besides the model itself: no
        # forced BOS/EOS (the forced prefix is passed explicitly), no length or repetition
        # rules. `generate` restores unset options from the model's generation config, so the
        # neutral values are set there.
        self._model.generation_config.update(
            forced_bos_token_id=None, forced_eos_token_id=None, min_length=0,
            min_new_tokens=None, max_new_tokens=None, no_repeat_ngram_size=0,
            encoder_no_repeat_ngram_size=0, repetition_penalty=1.0, length_penalty=1.0,
            num_beams=1, do_sample=False, early_stopping=False,
        )  # fmt: skip

    def source_ids(self, text: str, route: Route) -> list[int] | None:
        if self._codes is not None and isinstance(route, TranslationRoute):
            token = self._codes.codes[route.source_language]
            self._tokenizer.src_lang = self._src_lang_of(token)
        ids = self._tokenizer(route.input_template.format(text=text))["input_ids"]
        return [int(i) for i in ids]

    def greedy(self, source_ids: list[int], prefix_ids: list[int], max_length: int) -> list[int]:
        import torch

        start = [self._start, *prefix_ids]
        with torch.inference_mode():
            output = self._model.generate(
                torch.tensor([source_ids]),
                attention_mask=torch.ones(1, len(source_ids), dtype=torch.long),
                decoder_input_ids=torch.tensor([start]),
                max_length=len(start) + max_length,
            )
        ids = [int(i) for i in output[0].tolist()[1:]]
        return ids[: ids.index(self._eos)] if self._eos in ids else ids


def read_tokenizer_config(source: Path) -> dict[str, Any]:
    path = source / "tokenizer_config.json"
    return read_json_object(path) if path.is_file() else {}


def copy_file(source: Path, output: Path, name: str, hint: str) -> None:
    path = source / name
    if not path.is_file():
        raise ConversionError(f"{source} has no {name}; {hint}")
    shutil.copyfile(path, output / name)


def sentencepiece_tokenizer(
    checkpoint: Checkpoint, output: Path, name: str, hint: str
) -> TokenizerSpec:
    """One sentencepiece model for inputs and outputs, ``</s>`` after every input."""
    copy_file(checkpoint.source, output, name, hint)
    return TokenizerSpec(
        kind="sentencepiece", source_file=name, target_file=name, source_suffix=("</s>",)
    )


class T5Converter(TransformersFamily):
    family = "t5"
    model_types = ("t5", "mt5")
    summary = "T5, FLAN-T5, mT5 (sentencepiece spiece.model; tasks by input template)"

    def copy_tokenizer(self, checkpoint: Checkpoint, output: Path) -> TokenizerSpec:
        hint = "T5 checkpoints carry their sentencepiece model"
        return sentencepiece_tokenizer(checkpoint, output, "spiece.model", hint)

    def max_decoder_positions(self, checkpoint: Checkpoint) -> int | None:
        return None  # relative position buckets: no table to run out of


class MarianConverter(TransformersFamily):
    family = "marian"
    model_types = ("marian",)
    summary = "Marian / OPUS-MT (source.spm + target.spm; one language pair)"

    def copy_tokenizer(self, checkpoint: Checkpoint, output: Path) -> TokenizerSpec:
        hint = "Marian checkpoints carry source.spm and target.spm"
        copy_file(checkpoint.source, output, "source.spm", hint)
        copy_file(checkpoint.source, output, "target.spm", hint)
        return TokenizerSpec(
            kind="sentencepiece",
            source_file="source.spm",
            target_file="target.spm",
            source_suffix=("</s>",),
        )


class BartConverter(TransformersFamily):
    family = "bart"
    model_types = ("bart",)
    summary = "BART, distilBART (byte-level BPE tokenizer.json; summaries with a forced <s>)"

    def config_patches(self, checkpoint: Checkpoint) -> dict[str, Any]:
        return {"normalize_before": False, "normalize_embedding": True}

    def copy_tokenizer(self, checkpoint: Checkpoint, output: Path) -> TokenizerSpec:
        path = checkpoint.source / "tokenizer.json"
        if path.is_file():
            shutil.copyfile(path, output / "tokenizer.json")
        elif (checkpoint.source / "vocab.json").is_file():
            # Only the slow files (vocab.json + merges.txt): let transformers write the fast one.
            self.hf_tokenizer(checkpoint).backend_tokenizer.save(str(output / "tokenizer.json"))
        else:
            raise ConversionError(
                f"{checkpoint.source} has no tokenizer.json (or vocab.json + merges.txt); "
                "BART checkpoints carry their byte-level BPE tokenizer"
            )
        return TokenizerSpec(
            kind="hf-tokenizers",
            source_file="tokenizer.json",
            target_file="tokenizer.json",
            source_prefix=("<s>",),
            source_suffix=("</s>",),
        )


class PegasusConverter(TransformersFamily):
    family = "pegasus"
    model_types = ("pegasus",)
    summary = "Pegasus (sentencepiece spiece.model; news summarisation)"

    def config_patches(self, checkpoint: Checkpoint) -> dict[str, Any]:
        return {"normalize_before": True, "normalize_embedding": False}

    def copy_tokenizer(self, checkpoint: Checkpoint, output: Path) -> TokenizerSpec:
        hint = "Pegasus checkpoints carry their sentencepiece model"
        return sentencepiece_tokenizer(checkpoint, output, "spiece.model", hint)
