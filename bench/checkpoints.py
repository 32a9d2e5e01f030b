"""Random-weight Hugging Face checkpoints of every family, built locally (nothing downloaded).

Each builder trains the family's kind of tokenizer on the given sentences (sentencepiece, or a
byte-level BPE for BART), saves it through the family's own transformers tokenizer class (so the
special and language tokens sit where the real checkpoints have them), and initialises the
family's model class from its real config class. The tests build them tiny; ``make bench
--family`` builds them at Marian-base size. What the models say is noise; that they convert,
match the original token for token and serve is the point.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FAMILIES = ("t5", "marian", "bart", "mbart", "pegasus", "m2m_100", "nllb")


@dataclass(frozen=True, slots=True)
class CheckpointSize:
    d_model: int = 32
    layers: int = 2
    heads: int = 2
    ffn: int = 64
    vocab: int = 400  # tokenizer pieces (the family adds its special and language tokens)
    positions: int = 256
    # A wide initialisation makes random models' next-token choices clear-cut, so float32
    # parity is not at the mercy of near-ties (the default suits real training).
    init_std: float | None = 0.5
    seed: int = 0


def build_checkpoint(family: str, out: Path, size: CheckpointSize, corpus: Sequence[str]) -> Path:
    """Build ``family`` in ``out`` (created) and return ``out``."""
    builders: dict[str, Callable[[Path, CheckpointSize, Sequence[str]], None]] = {
        "t5": _t5,
        "marian": _marian,
        "bart": _bart,
        "mbart": _mbart,
        "pegasus": _pegasus,
        "m2m_100": _m2m100,
        "nllb": _nllb,
    }
    if family not in builders:
        raise ValueError(f"no builder for {family!r}; expected one of: {FAMILIES}")
    out.mkdir(parents=True, exist_ok=True)
    builders[family](out, size, corpus)
    return out


def _spm(corpus: Sequence[str], path: Path, vocab: int, **ids: Any) -> Path:
    import sentencepiece as spm

    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus), model_writer=buffer, vocab_size=vocab, model_type="bpe",
        character_coverage=1.0, hard_vocab_limit=False, split_digits=True, num_threads=2,
        minloglevel=2, **ids,
    )  # fmt: skip
    path.write_bytes(buffer.getvalue())
    return path


def _common(size: CheckpointSize, vocab_size: int, **extra: Any) -> dict[str, Any]:
    """The shape every BART-like config takes."""
    values: dict[str, Any] = {
        "vocab_size": vocab_size, "d_model": size.d_model, "encoder_layers": size.layers,
        "decoder_layers": size.layers, "encoder_attention_heads": size.heads,
        "decoder_attention_heads": size.heads, "encoder_ffn_dim": size.ffn,
        "decoder_ffn_dim": size.ffn, "max_position_embeddings": size.positions,
        "dropout": 0.0, **extra,
    }  # fmt: skip
    if size.init_std is not None:
        values["init_std"] = size.init_std
    return values


def _save(model_class: Any, config: Any, out: Path, seed: int) -> None:
    import torch

    torch.manual_seed(seed)
    model_class(config).eval().save_pretrained(str(out))


def _t5(out: Path, size: CheckpointSize, corpus: Sequence[str]) -> None:
    import sentencepiece as spm
    from transformers import T5Config, T5ForConditionalGeneration

    from demo_model.tokenizer import save_hf_tokenizer, train_sentencepiece

    spiece = train_sentencepiece(corpus, out, vocab_size=size.vocab)
    save_hf_tokenizer(spiece, out)
    vocab = spm.SentencePieceProcessor(model_file=str(spiece)).get_piece_size()
    config = T5Config(
        vocab_size=vocab, d_model=size.d_model, d_kv=size.d_model // size.heads, d_ff=size.ffn,
        num_layers=size.layers, num_decoder_layers=size.layers, num_heads=size.heads,
        feed_forward_proj="relu", tie_word_embeddings=True, pad_token_id=0, eos_token_id=1,
        decoder_start_token_id=0, dropout_rate=0.0,
        initializer_factor=(size.init_std or 0.05) * 20,
    )  # fmt: skip
    _save(T5ForConditionalGeneration, config, out, size.seed)


def _marian(out: Path, size: CheckpointSize, corpus: Sequence[str]) -> None:
    import sentencepiece as spm
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    path = _spm(
        corpus, out / "source.spm", size.vocab - 1, pad_id=-1, bos_id=-1, eos_id=0, unk_id=1
    )
    (out / "target.spm").write_bytes(path.read_bytes())
    processor = spm.SentencePieceProcessor(model_file=str(path))
    vocab = {processor.id_to_piece(i): i for i in range(processor.get_piece_size())}
    vocab["<pad>"] = len(vocab)
    (out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    tokenizer = MarianTokenizer(
        str(out / "source.spm"), str(out / "target.spm"), str(out / "vocab.json"),
        source_lang="en", target_lang="de",
    )  # fmt: skip
    tokenizer.save_pretrained(str(out))
    pad = len(vocab) - 1
    config = MarianConfig(
        **_common(size, len(vocab)), activation_function="swish", scale_embedding=True,
        pad_token_id=pad, eos_token_id=0, decoder_start_token_id=pad, forced_eos_token_id=0,
    )  # fmt: skip
    _save(MarianMTModel, config, out, size.seed)


def _bart(out: Path, size: CheckpointSize, corpus: Sequence[str]) -> None:
    from tokenizers import ByteLevelBPETokenizer
    from transformers import BartConfig, BartForConditionalGeneration, BartTokenizerFast

    trainer = ByteLevelBPETokenizer()
    trainer.train_from_iterator(
        corpus, vocab_size=size.vocab, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    )
    trainer.save_model(str(out))
    tokenizer = BartTokenizerFast(
        vocab_file=str(out / "vocab.json"), merges_file=str(out / "merges.txt")
    )
    tokenizer.save_pretrained(str(out))
    # bart-large-cnn's generation settings: the converter must carry them into the manifest.
    config = BartConfig(
        **_common(size, len(tokenizer)), forced_bos_token_id=0, num_beams=4, max_length=62,
        min_length=6, length_penalty=2.0, no_repeat_ngram_size=3, early_stopping=True,
    )  # fmt: skip
    _save(BartForConditionalGeneration, config, out, size.seed)


def _mbart(out: Path, size: CheckpointSize, corpus: Sequence[str]) -> None:
    from transformers import MBart50Tokenizer, MBartConfig, MBartForConditionalGeneration

    _fairseq_multilingual(
        out, size, corpus, MBart50Tokenizer, MBartConfig, MBartForConditionalGeneration,
        ("en_XX", "de_DE"),
    )  # fmt: skip


def _fairseq_multilingual(
    out: Path,
    size: CheckpointSize,
    corpus: Sequence[str],
    tokenizer_class: Any,
    config_class: Any,
    model_class: Any,
    languages: tuple[str, str],
) -> None:
    """mBART-50 and NLLB: a sentencepiece model behind fairseq's id offset, language codes
    added by the tokenizer class, decoding from </s>."""
    spm_file = _spm(corpus, out / "sentencepiece.bpe.model", size.vocab)
    tokenizer = tokenizer_class(
        vocab_file=str(spm_file), src_lang=languages[0], tgt_lang=languages[1]
    )
    tokenizer.save_pretrained(str(out))
    model_config = config_class(
        **_common(size, len(tokenizer)), scale_embedding=True, decoder_start_token_id=2,
        tokenizer_class=tokenizer_class.__name__,  # how converters tell mBART-50 and NLLB apart
    )  # fmt: skip
    _save(model_class, model_config, out, size.seed)


def _pegasus(out: Path, size: CheckpointSize, corpus: Sequence[str]) -> None:
    from transformers import PegasusConfig, PegasusForConditionalGeneration, PegasusTokenizer

    _spm(corpus, out / "spiece.model", size.vocab, pad_id=0, eos_id=1, unk_id=2, bos_id=-1)
    tokenizer = PegasusTokenizer(vocab_file=str(out / "spiece.model"))
    tokenizer.save_pretrained(str(out))
    config = PegasusConfig(
        **_common(size, len(tokenizer)), pad_token_id=0, eos_token_id=1,
        decoder_start_token_id=0, scale_embedding=True, num_beams=8, max_length=64,
        length_penalty=0.6,
    )  # fmt: skip
    _save(PegasusForConditionalGeneration, config, out, size.seed)


def _m2m100(out: Path, size: CheckpointSize, corpus: Sequence[str]) -> None:
    import sentencepiece as spm
    from transformers import M2M100Config, M2M100ForConditionalGeneration, M2M100Tokenizer

    path = _spm(corpus, out / "sentencepiece.bpe.model", size.vocab)
    processor = spm.SentencePieceProcessor(model_file=str(path))
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for i in range(processor.get_piece_size()):
        vocab.setdefault(processor.id_to_piece(i), len(vocab))
    (out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    tokenizer = M2M100Tokenizer(
        vocab_file=str(out / "vocab.json"), spm_file=str(path), src_lang="en", tgt_lang="de"
    )
    tokenizer.save_pretrained(str(out))
    languages = 100
    config = M2M100Config(
        **_common(size, len(vocab) + languages + tokenizer.num_madeup_words),
        scale_embedding=True, decoder_start_token_id=2,
    )  # fmt: skip
    _save(M2M100ForConditionalGeneration, config, out, size.seed)


def _nllb(out: Path, size: CheckpointSize, corpus: Sequence[str]) -> None:
    from transformers import M2M100Config, M2M100ForConditionalGeneration, NllbTokenizer

    _fairseq_multilingual(
        out, size, corpus, NllbTokenizer, M2M100Config, M2M100ForConditionalGeneration,
        ("eng_Latn", "deu_Latn"),
    )  # fmt: skip
