"""Both tokenizer kinds behind one interface: special tokens, prefixes and round trips."""

from __future__ import annotations

from pathlib import Path

from service.manifest import TokenizerSpec
from service.tokenization import load_tokenizer
from tests.fakes import DEMO_MODEL, demo_tokenizer

CHECKPOINT = Path(__file__).resolve().parents[2] / "demo_model" / "checkpoint"
SENTENCE = "Sophie räumt meine Küche auf."


def test_sentencepiece_round_trip_and_model_suffix() -> None:
    tokenizer = demo_tokenizer()
    tokens = tokenizer.encode(SENTENCE)
    assert tokens[-1] == "</s>"
    assert tokenizer.decode(tokens) == SENTENCE  # special tokens never reach the text


def test_source_prefix_and_suffix_come_from_the_spec() -> None:
    spec = TokenizerSpec(
        "sentencepiece", "spiece.model", "spiece.model", source_prefix=("<s>",), source_suffix=()
    )
    tokens = load_tokenizer(spec, DEMO_MODEL).encode("Hallo.")
    assert tokens[0] == "<s>" and tokens[-1] != "</s>"


def test_hf_tokenizers_json_gives_the_same_pieces_as_sentencepiece() -> None:
    spec = TokenizerSpec("hf-tokenizers", "tokenizer.json", "tokenizer.json")
    hf = load_tokenizer(spec, CHECKPOINT)
    sp = demo_tokenizer()
    assert hf.encode(SENTENCE) == sp.encode(SENTENCE)
    assert hf.decode(hf.encode(SENTENCE)) == SENTENCE
