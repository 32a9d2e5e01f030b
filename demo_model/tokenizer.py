"""Train the demo model's sentencepiece model and save it in T5's layout.

T5 expects ``<pad>`` = 0, ``</s>`` = 1, ``<unk>`` = 2 and no ``<s>``; digits are split so that
numbers are copied digit by digit. Besides ``spiece.model`` the HF tokenizer files are written
so that ``T5TokenizerFast.from_pretrained`` (and CTranslate2's converter) load the checkpoint.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

SPIECE_FILE = "spiece.model"


def train_sentencepiece(sentences: Iterable[str], out_dir: Path, *, vocab_size: int) -> Path:
    """Train ``out_dir/spiece.model`` on ``sentences`` (BPE: unigram splits this corpus badly)."""
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences),
        model_writer=model,
        vocab_size=vocab_size,
        model_type="bpe",
        character_coverage=1.0,
        split_digits=True,
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        hard_vocab_limit=False,
        input_sentence_size=400_000,
        shuffle_input_sentence=True,
        num_threads=2,
        minloglevel=2,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / SPIECE_FILE
    path.write_bytes(model.getvalue())
    return path


def save_hf_tokenizer(spiece: Path, out_dir: Path) -> None:
    """Write the HF tokenizer files next to the model (no sentinel tokens: ``extra_ids=0``).

    transformers converts a BPE sentencepiece model with ``prepend_scheme="never"``, which drops
    the word-boundary mark of the first word; we set it to "always" so that the fast tokenizer
    gives exactly the pieces sentencepiece (and so the server) gives.
    """
    try:
        from tokenizers import decoders, pre_tokenizers
        from transformers import T5TokenizerFast
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError("install the train extra: pip install -e '.[train]'") from exc
    tokenizer = T5TokenizerFast(vocab_file=str(spiece), extra_ids=0, legacy=False)
    backend = tokenizer.backend_tokenizer
    backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    backend.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.save_pretrained(str(out_dir))
