"""Tiny checkpoints of every family, converted with ``--verify`` once per test session.

The Hugging Face families come from `bench.checkpoints` (random weights, real config classes,
tokenizers trained here with the family's special and language tokens); the two own PyTorch
layouts are built from `converters.own.modules`. Every model is converted to int8 with
verification on, exactly as ``s2s convert`` does, into one registry a server can load.
"""

from __future__ import annotations

import dataclasses
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.checkpoints import FAMILIES, CheckpointSize, build_checkpoint
from bench.corpus import SentenceSampler, make_lexicon
from converters import convert
from converters.samples import default_samples
from converters.verify import VerifyOptions
from service.manifest import Manifest

# The tokenizers learn the verification samples' words, so the samples are mostly real pieces.
CORPUS = default_samples() * 3 + list(
    SentenceSampler(make_lexicon(300, 1), 2).sentences(2000, 3, 15)
)
# One thread: tiny models decode fastest on one, and the suite shares the machine's cores.
VERIFY = VerifyOptions(threads=1)
SIZE = CheckpointSize()  # 256 decoder positions: the size that crashed warm-up before #14

# What each family serves in the tests (the many-to-many ones serve all their languages).
SERVING: dict[str, dict[str, Any] | None] = {
    "t5": {
        "translation": [
            {
                "source_language": "en",
                "target_language": "de",
                "input_template": "translate English to German: {text}",
            }
        ],
        "summarization": [{"language": "en", "input_template": "summarize: {text}"}],
    },
    "marian": {"translation": [{"source_language": "en", "target_language": "de"}]},
    "bart": {"summarization": [{"language": "en"}]},
    "pegasus": {"summarization": [{"language": "en"}]},
    "mbart": None,
    "m2m_100": None,
    "nllb": None,
}
DIGITS = "0123456789"
OWN_ROUTE = {"translation": [{"source_language": "zxx", "target_language": "zxx-x-rev"}]}


@dataclass(frozen=True, slots=True)
class FamilyModel:
    family: str
    checkpoint: Path  # the source (a directory, or a state dict for the own layouts)
    model_dir: Path
    manifest: Manifest
    config_file: Path | None = None


def build_registry(root: Path) -> dict[str, FamilyModel]:
    """Every family (HF ones by their bench name, plus own-post and own-prenorm), converted."""
    registry = root / "registry"
    models: dict[str, FamilyModel] = {}
    for family in FAMILIES:
        checkpoint = build_checkpoint(family, root / "checkpoints" / family, SIZE, CORPUS)
        manifest = convert(
            checkpoint,
            registry / family,
            name=f"tiny-{family}",
            overrides=SERVING[family],
            verify=VERIFY,
        )
        models[family] = FamilyModel(family, checkpoint, registry / family, manifest)
    samples = digit_samples(root / "digits.txt")
    for name, layout in (("own-post", "torch-transformer"), ("own-prenorm", "prenorm-fused")):
        state, config = build_own(root / "checkpoints" / name, layout)
        manifest = convert(
            state,
            registry / name,
            name=f"tiny-{name}",
            family="pytorch-transformer",
            config_file=config,
            overrides=OWN_ROUTE,
            verify=dataclasses.replace(VERIFY, samples_file=samples),
        )
        models[name] = FamilyModel("pytorch-transformer", state, registry / name, manifest, config)
    return models


def digit_samples(path: Path, count: int = 60) -> Path:
    rng = random.Random(3)
    lines = ["".join(rng.choice(DIGITS) for _ in range(rng.randint(1, 24))) for _ in range(count)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def build_own(out: Path, layout: str) -> tuple[Path, Path]:
    """An own Transformer trained briefly on the example's digit-reversal task (at random
    weights its output ignores its input, which would make parity a weak proof):
    (state dict, model.json). The post-norm one uses the example's ``tokenizers`` JSON and
    sinusoidal positions, the pre-norm one sentencepiece, learned positions with an offset,
    separate embeddings, an untied output layer and GELU."""
    import torch

    from converters.own.config import OwnTransformerConfig
    from converters.own.modules import build

    out.mkdir(parents=True, exist_ok=True)
    if layout == "torch-transformer":
        tokenizer = reverse_task().save_tokenizer(out / "tokenizer.json"), 14
        extra: dict[str, Any] = {"norm": "post", "positions": "sinusoidal"}
    else:
        tokenizer = digit_sentencepiece(out / "digits.model")
        extra = {
            "norm": "pre", "positions": "learned", "position_offset": 2,
            "shared_embeddings": False, "tied_output": False, "activation": "gelu",
        }  # fmt: skip
    config: dict[str, Any] = {
        "layout": layout, "vocab_size": tokenizer[1], "d_model": 32, "heads": 4,
        "encoder_layers": 2, "decoder_layers": 2, "ffn_dim": 64, "max_positions": 64,
        "tokenizer": tokenizer[0].name, **extra,
    }  # fmt: skip
    config_file = out / "model.json"
    config_file.write_text(json.dumps(config, indent=1), encoding="utf-8")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model trains fastest on one thread
    try:
        module = build(OwnTransformerConfig.from_dict(config))
        task = reverse_task()
        encoder = task.encode
        if layout != "torch-transformer":
            import sentencepiece as spm

            processor = spm.SentencePieceProcessor(model_file=str(tokenizer[0]))
            encoder = lambda text: [*processor.encode(text), task.EOS]  # noqa: E731
        task.train(module, steps=150, max_digits=12, log=lambda _: None, encoder=encoder)
    finally:
        torch.set_num_threads(threads)
    state = out / "model.pt"
    torch.save(module.state_dict(), state)
    return state, config_file


def reverse_task() -> Any:
    """``examples/own-transformer/reverse.py`` (the example's task and training loop)."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "examples" / "own-transformer" / "reverse.py"
    spec = importlib.util.spec_from_file_location("own_transformer_reverse", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def digit_sentencepiece(path: Path) -> tuple[Path, int]:
    import io

    import sentencepiece as spm

    rng = random.Random(5)
    corpus = ["".join(rng.choice(DIGITS) for _ in range(rng.randint(3, 30))) for _ in range(500)]
    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus), model_writer=buffer, vocab_size=24, model_type="bpe",
        split_digits=True, pad_id=0, bos_id=1, eos_id=2, unk_id=3, hard_vocab_limit=False,
        minloglevel=2,
    )  # fmt: skip
    path.write_bytes(buffer.getvalue())
    size = spm.SentencePieceProcessor(model_file=str(path)).get_piece_size()
    return path, size
