"""Many-to-many translation families: mBART-50, and M2M100 / NLLB-200 (one architecture).

Each says how its languages are expressed, which the manifest records and the server applies:

- mBART-50: ``en_XX`` before the source text, ``de_DE`` forced as the first output token.
- M2M100: ``__en__`` before the source text, ``__de__`` forced as the first output token.
- NLLB-200: ``eng_Latn`` before the source text (after ``</s>`` with the tokenizer's legacy
  behaviour), ``deu_Latn`` forced as the first output token.

Request codes are BCP-47 (``en``, ``zh-Hant``); the language tables map them (see
``converters.language_tables``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from converters.base import Checkpoint, ConversionError
from converters.huggingface import (
    TransformersFamily,
    read_tokenizer_config,
    sentencepiece_tokenizer,
)
from converters.language_tables import language_codes, load_table
from service.manifest import LanguageCodes, TokenizerSpec

_MBART50_CODE = re.compile(r"^[a-z]{2}_[A-Z]{2}$")
_NLLB_CODE = re.compile(r"^[a-z]{3}_[A-Z][a-z]{3}$")
_M2M_TOKEN = re.compile(r"^__([a-z]{2,3})__$")
SPM_FILE = "sentencepiece.bpe.model"


def _sentencepiece(checkpoint: Checkpoint, output: Path, family: str) -> TokenizerSpec:
    hint = f"{family} checkpoints carry their sentencepiece model as {SPM_FILE}"
    return sentencepiece_tokenizer(checkpoint, output, SPM_FILE, hint)


def _vocabulary_tokens(tokenizer: Any) -> list[str]:
    tokens = list(tokenizer.get_vocab())
    tokens += [t for t in getattr(tokenizer, "additional_special_tokens", []) if t not in tokens]
    return tokens


class MBartConverter(TransformersFamily):
    family = "mbart"
    model_types = ("mbart",)
    summary = "mBART-50 many-to-many (sentencepiece.bpe.model; en_XX-style codes)"

    def _check_mbart50(self, checkpoint: Checkpoint) -> None:
        names = {
            str(checkpoint.config.get("tokenizer_class") or ""),
            str(read_tokenizer_config(checkpoint.source).get("tokenizer_class") or ""),
        }
        if not any(n.startswith("MBart50Tokenizer") for n in names):
            raise ConversionError(
                f"{checkpoint.source}: only mBART-50 checkpoints (tokenizer_class "
                "MBart50Tokenizer: language code before the text) are supported; mBART-25 "
                f"style checkpoints put it after </s> (found tokenizer_class {sorted(names)})"
            )

    def config_patches(self, checkpoint: Checkpoint) -> dict[str, Any]:
        self._check_mbart50(checkpoint)
        # CTranslate2 starts mBART-50 decoding from </s> only when it sees this class name.
        return {
            "normalize_before": True,
            "normalize_embedding": True,
            "tokenizer_class": "MBart50Tokenizer",
        }

    def prepare_tokenizer(self, tokenizer: Any) -> None:
        if tokenizer.bos_token is None:  # not saved by some transformers versions
            tokenizer.bos_token = "<s>"

    def copy_tokenizer(self, checkpoint: Checkpoint, output: Path) -> TokenizerSpec:
        return _sentencepiece(checkpoint, output, "mBART-50")

    def language_codes(self, checkpoint: Checkpoint) -> LanguageCodes:
        if "languages" not in checkpoint.cache:
            tokenizer = self.hf_tokenizer(checkpoint)
            present = [t for t in _vocabulary_tokens(tokenizer) if _MBART50_CODE.match(t)]
            checkpoint.cache["languages"] = language_codes(
                load_table("mbart50"),
                present,
                token_of=lambda code: code,
                source_prefix=("{source}",),
                only=checkpoint.options.languages,
                user_table=checkpoint.options.language_table,
            )
        codes: LanguageCodes = checkpoint.cache["languages"]
        return codes


class M2M100Converter(TransformersFamily):
    family = "m2m_100"
    model_types = ("m2m_100",)
    summary = "M2M100 and NLLB-200 (sentencepiece.bpe.model; __en__ / eng_Latn codes)"

    def is_nllb(self, checkpoint: Checkpoint) -> bool:
        names = (
            str(checkpoint.config.get("tokenizer_class") or ""),
            str(read_tokenizer_config(checkpoint.source).get("tokenizer_class") or ""),
        )
        return any(n.startswith("Nllb") for n in names)

    def prepare_tokenizer(self, tokenizer: Any) -> None:
        # M2M100's language tokens must be additional special tokens, in id order, for
        # CTranslate2 to put them in its vocabulary; tokenizers saved by some transformers
        # versions lose that list.
        lang_tokens = getattr(tokenizer, "lang_code_to_token", None)
        if lang_tokens and not set(lang_tokens.values()) <= set(
            tokenizer.additional_special_tokens
        ):
            ordered = sorted(lang_tokens.values(), key=tokenizer.convert_tokens_to_ids)
            tokenizer.add_special_tokens(
                {"additional_special_tokens": ordered}, replace_additional_special_tokens=False
            )

    def copy_tokenizer(self, checkpoint: Checkpoint, output: Path) -> TokenizerSpec:
        return _sentencepiece(checkpoint, output, "NLLB" if self.is_nllb(checkpoint) else "M2M100")

    def src_lang_of(self, token: str) -> str:
        found = _M2M_TOKEN.match(token)
        return found.group(1) if found else token

    def language_codes(self, checkpoint: Checkpoint) -> LanguageCodes:
        if "languages" not in checkpoint.cache:
            tokenizer = self.hf_tokenizer(checkpoint)
            tokens = _vocabulary_tokens(tokenizer)
            common: dict[str, Any] = {
                "only": checkpoint.options.languages,
                "user_table": checkpoint.options.language_table,
            }
            if self.is_nllb(checkpoint):
                legacy = bool(getattr(tokenizer, "legacy_behaviour", False))
                checkpoint.cache["languages"] = language_codes(
                    load_table("nllb200"),
                    [t for t in tokens if _NLLB_CODE.match(t)],
                    token_of=lambda code: code,
                    source_prefix=() if legacy else ("{source}",),
                    source_suffix=("{source}",) if legacy else (),
                    **common,
                )
            else:
                present = [m.group(1) for t in tokens if (m := _M2M_TOKEN.match(t))]
                checkpoint.cache["languages"] = language_codes(
                    load_table("m2m100"),
                    present,
                    token_of=lambda code: f"__{code}__",
                    source_prefix=("{source}",),
                    **common,
                )
        codes: LanguageCodes = checkpoint.cache["languages"]
        return codes
