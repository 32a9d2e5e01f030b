"""The benchmark model: a randomly initialised Marian-base built locally and converted to CT2.

Nothing is downloaded. A sentencepiece model is trained on synthetic text (`bench.corpus`),
a `MarianMTModel` of opus-mt size (d_model 512, 6+6 layers, 8 heads, FFN 2048, 32k vocabulary)
is initialised at random, saved as a Hugging Face checkpoint, and converted with the project's
own converter (`converters.convert`, what `s2s convert` runs), so the benchmark also exercises
the conversion path users take. Random weights decode exactly as fast as trained ones; what
they say is irrelevant because every system is forced to produce the same number of tokens.

Everything lands in ``.bench-cache/<name>-<digest of the spec>/``; a rerun with the same spec
reuses it (a ``done.json`` marker is written last, so an interrupted build is redone).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.corpus import SentenceSampler, make_lexicon, pick_by_length

# Bump when the build recipe changes in a way the spec does not capture.
BUILD_VERSION = 1
DEFAULT_CACHE = Path(".bench-cache")
SOURCE_LANGUAGE = "en"
TARGET_LANGUAGE = "de"

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """What the benchmark model is; its digest keys the cache.

    Defaults are Marian-base as in the OPUS-MT checkpoints (swish, scaled embeddings, shared
    source/target vocabulary), with a 32k vocabulary.
    """

    name: str = "marian-base-bench"
    vocab_size: int = 32000
    d_model: int = 512
    encoder_layers: int = 6
    decoder_layers: int = 6
    attention_heads: int = 8
    ffn_dim: int = 2048
    quantization: str = "int8"
    seed: int = 1234
    lexicon_size: int = 60000
    corpus_sentences: int = 200000
    input_sentences: int = 512
    input_min_tokens: int = 20
    input_max_tokens: int = 30
    # Another family at the same size (bench.checkpoints builds it): t5, bart, mbart, pegasus,
    # m2m_100, nllb. Every family is served as translation en→de (random weights: the task
    # only decides the template and the language tokens, which are part of the cost).
    family: str = "marian"

    def digest(self) -> str:
        fields = asdict(self)
        if self.family == "marian":
            del fields["family"]  # the Marian cache from before families keeps its key
        payload = json.dumps({"build": BUILD_VERSION, **fields}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]


def spec_for(family: str) -> ModelSpec:
    """The benchmark model of ``family`` (Marian-base dimensions for every family)."""
    if family == "marian":
        return ModelSpec()
    return ModelSpec(name=f"{family}-base-bench", family=family)


@dataclass(frozen=True, slots=True)
class BenchModel:
    """A built benchmark model: where it is and what to send it."""

    spec: ModelSpec
    root: Path
    registry: Path  # a registry directory holding just this model (for `s2s serve --models`)
    model_dir: Path  # the converted model directory (for the raw engine)
    name: str  # the served model name (from the manifest)
    source_language: str
    target_language: str
    sentences: tuple[str, ...]  # inputs of input_min_tokens..input_max_tokens pieces
    converter: str  # what converted it, for the report


def cache_dir(spec: ModelSpec, cache: Path = DEFAULT_CACHE) -> Path:
    return cache / f"{spec.name}-{spec.digest()}"


def load_or_build(
    spec: ModelSpec, cache: Path = DEFAULT_CACHE, progress: Progress = print
) -> BenchModel:
    """The cached model for `spec`, building (tokenizer, checkpoint, conversion) if needed."""
    root = cache_dir(spec, cache)
    marker = root / "done.json"
    if marker.is_file():
        progress(f"model: cached at {root}")
        return _from_marker(spec, root, json.loads(marker.read_text()))
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    progress(f"model: building {spec.name} in {root} (a minute or two, once)")
    hf_dir = root / "hf"
    sampler = SentenceSampler(make_lexicon(spec.lexicon_size, spec.seed), spec.seed + 1)
    model_dir = root / "registry" / spec.name
    if spec.family == "marian":
        spm_file = _train_sentencepiece(spec, sampler, root / "spm", progress)
        _save_checkpoint(spec, spm_file, hf_dir, progress)
    else:
        _build_family(spec, sampler, hf_dir, progress)
    converter = _convert(spec, hf_dir, model_dir, progress)
    sentences = _pick_inputs(spec, model_dir, sampler)
    (root / "sentences.json").write_text(json.dumps(sentences, indent=0) + "\n")
    shutil.rmtree(hf_dir)  # the checkpoint is only the converter's input; keep the cache small
    marker.write_text(json.dumps({"spec": asdict(spec), "converter": converter}, indent=2))
    return _from_marker(spec, root, json.loads(marker.read_text()))


def build_checkpoint(
    spec: ModelSpec, root: Path, progress: Progress = print
) -> tuple[Path, Path, SentenceSampler]:
    """A Hugging Face checkpoint for ``spec`` in ``root/hf`` (random weights, a sentencepiece
    model trained on the synthetic corpus in ``root/spm``); returns (checkpoint, sentencepiece
    model, the sentence sampler that made the corpus)."""
    sampler = SentenceSampler(make_lexicon(spec.lexicon_size, spec.seed), spec.seed + 1)
    spm_file = _train_sentencepiece(spec, sampler, root / "spm", progress)
    _save_checkpoint(spec, spm_file, root / "hf", progress)
    return root / "hf", spm_file, sampler


def _from_marker(spec: ModelSpec, root: Path, marker: dict[str, Any]) -> BenchModel:
    from service.manifest import load_manifest

    registry = root / "registry"
    model_dir = registry / spec.name
    manifest = load_manifest(model_dir)
    if not manifest.translation:
        raise RuntimeError(f"{model_dir}: the converted model declares no translation route")
    route = manifest.translation[0]
    sentences = tuple(json.loads((root / "sentences.json").read_text()))
    return BenchModel(
        spec=spec,
        root=root,
        registry=registry,
        model_dir=model_dir,
        name=manifest.name,
        source_language=route.source_language,
        target_language=route.target_language,
        sentences=sentences,
        converter=str(marker.get("converter", "")),
    )


def _train_sentencepiece(
    spec: ModelSpec, sampler: SentenceSampler, out_dir: Path, progress: Progress
) -> Path:
    """A BPE model with ``vocab_size - 1`` pieces (Marian appends ``<pad>`` as the last id).

    ``</s>`` is id 0 and ``<unk>`` id 1, as in the OPUS-MT vocabularies.
    """
    import sentencepiece as spm

    out_dir.mkdir(parents=True, exist_ok=True)
    progress(f"model: training a {spec.vocab_size}-piece sentencepiece model")
    corpus = sampler.sentences(spec.corpus_sentences, 6, 24)
    spm.SentencePieceTrainer.train(
        sentence_iterator=corpus,
        model_prefix=str(out_dir / "spm"),
        vocab_size=spec.vocab_size - 1,
        model_type="bpe",
        character_coverage=1.0,
        pad_id=-1,
        bos_id=-1,
        eos_id=0,
        unk_id=1,
        num_threads=2,
        minloglevel=2,
    )
    return out_dir / "spm.model"


def _save_checkpoint(spec: ModelSpec, spm_file: Path, hf_dir: Path, progress: Progress) -> None:
    """A Hugging Face Marian checkpoint with random weights and a real tokenizer."""
    import sentencepiece as spm
    import torch
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    progress("model: initialising MarianMTModel with random weights")
    hf_dir.mkdir(parents=True, exist_ok=True)
    for name in ("source.spm", "target.spm"):
        shutil.copyfile(spm_file, hf_dir / name)
    processor = spm.SentencePieceProcessor(model_file=str(spm_file))
    vocab = {processor.id_to_piece(i): i for i in range(processor.get_piece_size())}
    vocab["<pad>"] = len(vocab)
    if len(vocab) != spec.vocab_size:
        raise RuntimeError(f"vocabulary has {len(vocab)} entries, expected {spec.vocab_size}")
    (hf_dir / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    tokenizer = MarianTokenizer(
        str(hf_dir / "source.spm"),
        str(hf_dir / "target.spm"),
        str(hf_dir / "vocab.json"),
        source_lang=SOURCE_LANGUAGE,
        target_lang=TARGET_LANGUAGE,
    )
    tokenizer.save_pretrained(str(hf_dir))
    pad = spec.vocab_size - 1
    config = MarianConfig(
        vocab_size=spec.vocab_size,
        d_model=spec.d_model,
        encoder_layers=spec.encoder_layers,
        decoder_layers=spec.decoder_layers,
        encoder_attention_heads=spec.attention_heads,
        decoder_attention_heads=spec.attention_heads,
        encoder_ffn_dim=spec.ffn_dim,
        decoder_ffn_dim=spec.ffn_dim,
        activation_function="swish",
        scale_embedding=True,
        max_position_embeddings=512,
        pad_token_id=pad,
        eos_token_id=0,
        decoder_start_token_id=pad,
        forced_eos_token_id=0,
        max_length=512,
        num_beams=4,
    )
    torch.manual_seed(spec.seed)
    model = MarianMTModel(config).eval()
    model.save_pretrained(str(hf_dir))


def _convert(spec: ModelSpec, hf_dir: Path, model_dir: Path, progress: Progress) -> str:
    """Convert with the project's converter, exactly what ``s2s convert`` does."""
    try:
        from converters import convert
    except ImportError as exc:
        raise RuntimeError(
            f"the project's converter is not importable ({exc}); install with "
            "`pip install -e '.[convert]'`"
        ) from exc
    progress(f"model: converting to CTranslate2 {spec.quantization} with converters.convert")
    route = {"source_language": SOURCE_LANGUAGE, "target_language": TARGET_LANGUAGE}
    if spec.family == "t5":
        route["input_template"] = "translate English to German: {text}"
    overrides = {
        "translation": [route],
        "description": f"randomly initialised {spec.family} at Marian-base size for "
        "`python -m bench` (outputs are noise)",
    }
    convert(
        hf_dir,
        model_dir,
        quantization=spec.quantization,
        name=spec.name,
        force=True,
        overrides=overrides,
    )
    return f"converters.convert(quantization={spec.quantization!r})"


def _build_family(
    spec: ModelSpec, sampler: SentenceSampler, hf_dir: Path, progress: Progress
) -> None:
    from bench.checkpoints import CheckpointSize, build_checkpoint

    progress(f"model: training a {spec.vocab_size}-piece tokenizer and initialising {spec.family}")
    size = CheckpointSize(
        d_model=spec.d_model, layers=spec.encoder_layers, heads=spec.attention_heads,
        ffn=spec.ffn_dim, vocab=spec.vocab_size, positions=512, init_std=None, seed=spec.seed,
    )  # fmt: skip
    corpus = list(sampler.sentences(spec.corpus_sentences, 6, 24))
    build_checkpoint(spec.family, hf_dir, size, corpus)


def _pick_inputs(spec: ModelSpec, model_dir: Path, sampler: SentenceSampler) -> list[str]:
    """Distinct sentences of input_min_tokens..input_max_tokens tokens as the server
    tokenizes them, without the family's fixed extra tokens (for Marian: sentencepiece
    pieces, as before families existed)."""
    from service.manifest import load_manifest
    from service.tokenization import load_tokenizer

    manifest = load_manifest(model_dir)
    tokenizer = load_tokenizer(manifest.tokenizer, model_dir)
    extra = len(manifest.tokenizer.source_prefix) + len(manifest.tokenizer.source_suffix)

    def count(text: str) -> int:
        return len(tokenizer.encode(text)) - extra

    return pick_by_length(
        sampler.sentences(10**9, 12, 30),
        count,
        spec.input_min_tokens,
        spec.input_max_tokens,
        spec.input_sentences,
    )
