"""The encoder benchmark's model: the benchmark's Marian-base (random weights, built locally),
converted three ways from ONE checkpoint (torch float32, CTranslate2 float32 and int8), plus
400-token documents to send it.

Everything lands in ``.bench-cache/<name>-<digest>-encoder/`` and is reused while the spec is
the same (``done.json`` is written last).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.corpus import SentenceSampler
from bench.model import DEFAULT_CACHE, SOURCE_LANGUAGE, TARGET_LANGUAGE, ModelSpec, build_checkpoint

Progress = Callable[[str], None]
# (registry folder, --engine, --quantization): one model per registry, served one at a time.
VARIANTS = (("torch", "torch", "float32"), ("ct2-float32", "ctranslate2", "float32"),
            ("ct2-int8", "ctranslate2", "int8"))  # fmt: skip
ENGINES = ("ctranslate2", "torch")


@dataclass(frozen=True, slots=True)
class EncoderBenchModel:
    name: str
    registries: dict[str, Path]  # variant → registry directory holding the one model
    documents: tuple[str, ...]  # texts of `tokens` sentencepiece pieces each (±5)
    tokens: int
    warmup: str  # one more such text, for each server's unmeasured first request


def load_or_build(
    spec: ModelSpec, *, documents: int, tokens: int, cache: Path = DEFAULT_CACHE,
    progress: Progress = print, engines: tuple[str, ...] = ENGINES,
) -> EncoderBenchModel:  # fmt: skip
    """``engines`` picks the variants: a GPU whose CUDA CTranslate2's wheels cannot load (they
    link CUDA 12's cuBLAS) builds and serves the torch one alone."""
    root = cache / f"{spec.name}-{spec.digest()}-encoder"
    marker = root / "done.json"
    variants = [v for v in VARIANTS if v[1] in engines]
    if marker.is_file():
        done = json.loads(marker.read_text())
        built = set(done.get("engines", ENGINES))
        if done["documents"] > documents and done["tokens"] == tokens and built >= set(engines):
            progress(f"encoder model: cached at {root}")
            return _load(spec, root, documents, tokens, variants)
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    progress(f"encoder model: building {spec.name} in {root} (a few minutes, once)")
    hf_dir, spm_file, sampler = build_checkpoint(spec, root, progress)
    from converters import convert

    overrides = {
        "translation": [{"source_language": SOURCE_LANGUAGE, "target_language": TARGET_LANGUAGE}],
        "description": "randomly initialised Marian-base for `python -m bench --encoder-only`",
    }
    for variant, engine, quantization in variants:
        progress(f"encoder model: converting for {engine} {quantization}")
        convert(
            hf_dir, root / variant / spec.name, quantization=quantization, name=spec.name,
            force=True, overrides=overrides, engine=engine,
        )  # fmt: skip
    shutil.rmtree(hf_dir)
    texts = _documents(spm_file, sampler, documents + 1, tokens)  # the last one warms up
    (root / "documents.json").write_text(json.dumps(texts, indent=0) + "\n")
    done = {"documents": len(texts), "tokens": tokens, "engines": sorted(engines)}
    marker.write_text(json.dumps(done))
    return _load(spec, root, documents, tokens, variants)


def _load(
    spec: ModelSpec, root: Path, documents: int, tokens: int,
    variants: list[tuple[str, str, str]],
) -> EncoderBenchModel:  # fmt: skip
    texts = json.loads((root / "documents.json").read_text())
    registries = {variant: root / variant for variant, _, _ in variants}
    return EncoderBenchModel(spec.name, registries, tuple(texts[:documents]), tokens, texts[-1])


def _documents(spm_file: Path, sampler: SentenceSampler, count: int, tokens: int) -> list[str]:
    """Distinct documents of ``tokens`` ±5 pieces: sentences appended until long enough."""
    import sentencepiece as spm

    processor = spm.SentencePieceProcessor(model_file=str(spm_file))
    documents: list[str] = []
    while len(documents) < count:
        text = ""
        while len(processor.encode(text)) < tokens - 5:
            text = f"{text} {sampler.sentence(8, 20)}".strip()
        if len(processor.encode(text)) <= tokens + 5:
            documents.append(text)
    return documents
