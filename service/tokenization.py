"""Text ⇄ engine tokens, behind one interface for sentencepiece and Hugging Face `tokenizers`."""

from __future__ import annotations

import abc
from pathlib import Path

from service.manifest import TokenizerSpec

# Tokens that mark structure, never text: dropped when detokenizing.
_SPECIAL = frozenset({"</s>", "<s>", "<pad>", "<unk>"})


class Tokenizer(abc.ABC):
    """Encodes inputs with the source vocabulary and decodes outputs with the target one."""

    def __init__(self, spec: TokenizerSpec) -> None:
        self.spec = spec

    def encode(self, text: str) -> list[str]:
        """Source tokens for the engine, with the model's required prefix and suffix tokens."""
        return [*self.spec.source_prefix, *self._encode(text), *self.spec.source_suffix]

    def decode(self, tokens: list[str] | tuple[str, ...]) -> str:
        return self._decode([t for t in tokens if t not in _SPECIAL])

    @abc.abstractmethod
    def _encode(self, text: str) -> list[str]: ...

    @abc.abstractmethod
    def _decode(self, tokens: list[str]) -> str: ...


class SentencePieceTokenizer(Tokenizer):
    def __init__(self, spec: TokenizerSpec, model_dir: Path) -> None:
        super().__init__(spec)
        import sentencepiece as spm

        self._source = spm.SentencePieceProcessor(model_file=str(model_dir / spec.source_file))
        self._target = (
            self._source
            if spec.target_file == spec.source_file
            else spm.SentencePieceProcessor(model_file=str(model_dir / spec.target_file))
        )

    def _encode(self, text: str) -> list[str]:
        return list(self._source.encode(text, out_type=str))

    def _decode(self, tokens: list[str]) -> str:
        return str(self._target.decode_pieces(tokens))


class HFTokenizer(Tokenizer):
    """A `tokenizer.json` from Hugging Face `tokenizers` (no transformers needed)."""

    def __init__(self, spec: TokenizerSpec, model_dir: Path) -> None:
        super().__init__(spec)
        from tokenizers import Tokenizer as RustTokenizer

        self._source = RustTokenizer.from_file(str(model_dir / spec.source_file))
        self._target = (
            self._source
            if spec.target_file == spec.source_file
            else RustTokenizer.from_file(str(model_dir / spec.target_file))
        )

    def _encode(self, text: str) -> list[str]:
        return list(self._source.encode(text, add_special_tokens=False).tokens)

    def _decode(self, tokens: list[str]) -> str:
        ids = [self._target.token_to_id(t) for t in tokens]
        return str(self._target.decode([i for i in ids if i is not None]))


def load_tokenizer(spec: TokenizerSpec, model_dir: Path) -> Tokenizer:
    if spec.kind == "sentencepiece":
        return SentencePieceTokenizer(spec, model_dir)
    return HFTokenizer(spec, model_dir)
