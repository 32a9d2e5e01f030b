"""`s2s convert` on real (tiny, randomly initialised) Hugging Face checkpoints built here.

The T5 checkpoint gets a sentencepiece model trained on a few sentences; the Marian one is the
benchmark's model builder at toy size. What users rely on: the converted model scores exactly as
the PyTorch model does, every quantization loads, and mistakes give a clear error and leave no
half-written directory behind.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from converters import convert
from converters.base import QUANTIZATIONS, ConversionError
from service.manifest import compute_revision, load_manifest
from service.tokenization import load_tokenizer

ROOT = Path(__file__).resolve().parents[3]
SENTENCES = [
    f"The {a} {n} sees {k} {m} in {c}."
    for a in ("big", "small", "old", "young")
    for n in ("dog", "cat", "man", "woman")
    for k in range(3, 12)
    for m, c in (("birds", "Berlin"), ("houses", "Hamburg"))
] + ["Der Hund schläft, weil er müde ist.", "Die Frau kauft drei rote Äpfel."] * 30
SAMPLES = ["The big dog sees 7 birds in Berlin.", "The young woman sees 3 houses."]


def _serving(name: str = "tiny-t5") -> dict[str, object]:
    return {
        "name": name,
        "translation": [
            {
                "source_language": "en",
                "target_language": "de",
                "input_template": "translate English to German: {text}",
            },
        ],
        "summarization": [{"language": "en", "input_template": "summarize: {text}"}],
        "default_options": {"beam_size": 2, "max_length": 16},
    }


@pytest.fixture(scope="module")
def t5_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    from demo_model.tokenizer import save_hf_tokenizer, train_sentencepiece

    out = tmp_path_factory.mktemp("t5-checkpoint")
    spiece = train_sentencepiece(SENTENCES, out, vocab_size=160)
    save_hf_tokenizer(spiece, out)
    import sentencepiece as spm

    vocab_size = spm.SentencePieceProcessor(model_file=str(spiece)).get_piece_size()
    config = T5Config(
        vocab_size=vocab_size, d_model=32, d_kv=16, d_ff=64, num_layers=2, num_decoder_layers=2,
        num_heads=2, feed_forward_proj="relu", tie_word_embeddings=True, pad_token_id=0,
        eos_token_id=1, decoder_start_token_id=0, dropout_rate=0.0,
    )  # fmt: skip
    torch.manual_seed(7)
    T5ForConditionalGeneration(config).eval().save_pretrained(str(out))
    (out / "serving.json").write_text(json.dumps(_serving()), encoding="utf-8")
    return out


def _bare_copy(checkpoint: Path, dest: Path) -> Path:
    """The checkpoint without serving.json: what a user downloads from a model hub."""
    import shutil

    shutil.copytree(checkpoint, dest, ignore=shutil.ignore_patterns("serving.json"))
    return dest


def test_t5_model_directory_is_complete_and_described(t5_checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "registry" / "tiny"
    manifest = convert(t5_checkpoint, out, quantization="int8")
    for name in ("model.bin", "config.json", "shared_vocabulary.json", "spiece.model",
                 "manifest.json"):  # fmt: skip
        assert (out / name).is_file(), name
    loaded = load_manifest(out)
    assert loaded == manifest
    assert loaded.name == "tiny-t5" and loaded.family == "t5" and loaded.quantization == "int8"
    assert loaded.revision == compute_revision(out)
    assert loaded.translation[0].input_template == "translate English to German: {text}"
    assert loaded.summarization[0].language == "en"
    assert loaded.default_options.beam_size == 2 and loaded.default_options.max_length == 16
    assert loaded.provenance["model_type"] == "t5"
    assert "transformers" in loaded.provenance and "ctranslate2" in loaded.provenance
    assert [p.name for p in out.parent.iterdir()] == ["tiny"]  # no scratch directory left


def test_float32_conversion_scores_exactly_like_pytorch(
    t5_checkpoint: Path, tmp_path: Path
) -> None:
    """Same weights, same tokens: CTranslate2 and transformers give the same log-probabilities."""
    import ctranslate2
    import torch
    from transformers import T5ForConditionalGeneration

    out = tmp_path / "fp32"
    manifest = convert(t5_checkpoint, out, quantization="float32", verify=True)
    # --verify's parity check (converters/verify.py): greedy decoding token for token
    assert manifest.verification is not None and manifest.verification["passed"]
    assert manifest.verification["float32"]["alone"]["agree"] >= 50
    tokenizer = load_tokenizer(manifest.tokenizer, out)
    translator = ctranslate2.Translator(str(out), device="cpu", compute_type="float32")
    model = T5ForConditionalGeneration.from_pretrained(str(t5_checkpoint)).eval()
    sources = [tokenizer.encode(s) for s in SAMPLES]
    targets = [tokenizer.encode(s)[:-1][:6] for s in reversed(SAMPLES)]  # no </s>: CT2 adds it
    scored = translator.score_batch(sources, targets)
    vocab = {p: i for i, p in enumerate(json.loads((out / "shared_vocabulary.json").read_text()))}
    for src, tgt, result in zip(sources, targets, scored, strict=True):
        labels = torch.tensor([[vocab[t] for t in tgt] + [1]])
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([[vocab[t] for t in src]]), labels=labels).logits
        expected = torch.log_softmax(logits, -1)[0].gather(1, labels[0][:, None])[:, 0]
        assert result.log_probs == pytest.approx(expected.tolist(), abs=1e-3)

    greedy = translator.translate_batch(sources, beam_size=1, max_decoding_length=8)
    with torch.no_grad():
        generated = model.generate(
            torch.tensor([[vocab[t] for t in sources[0]]]), num_beams=1, do_sample=False,
            max_new_tokens=8,
        )  # fmt: skip
    pieces = [p for p, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    hf_tokens = [pieces[i] for i in generated[0].tolist()[1:] if i != 1]
    assert greedy[0].hypotheses[0] == hf_tokens[: len(greedy[0].hypotheses[0])]


@pytest.mark.parametrize("quantization", QUANTIZATIONS)
def test_every_quantization_converts_and_decodes(
    t5_checkpoint: Path, tmp_path: Path, quantization: str
) -> None:
    import ctranslate2

    out = tmp_path / quantization
    manifest = convert(t5_checkpoint, out, quantization=quantization, name=f"t5-{quantization}")
    assert manifest.quantization == quantization and manifest.name == f"t5-{quantization}"
    # On a CPU, CTranslate2 runs GPU weight types in the nearest type the CPU supports.
    translator = ctranslate2.Translator(str(out), device="cpu", compute_type="default")
    tokenizer = load_tokenizer(manifest.tokenizer, out)
    result = translator.translate_batch([tokenizer.encode(SAMPLES[0])], max_decoding_length=5)
    assert 0 < len(result[0].hypotheses[0]) <= 5


def test_quantizations_change_the_revision(t5_checkpoint: Path, tmp_path: Path) -> None:
    a = convert(t5_checkpoint, tmp_path / "a", quantization="int8")
    b = convert(t5_checkpoint, tmp_path / "b", quantization="float32")
    again = convert(t5_checkpoint, tmp_path / "c", quantization="int8")
    assert a.revision != b.revision
    assert a.revision == again.revision  # the digest covers the model files, not the time


def test_existing_output_needs_force(t5_checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    convert(t5_checkpoint, out, quantization="int8")
    before = (out / "manifest.json").read_text()
    with pytest.raises(ConversionError, match="--force"):
        convert(t5_checkpoint, out, quantization="float32")
    assert (out / "manifest.json").read_text() == before
    replaced = convert(t5_checkpoint, out, quantization="float32", force=True)
    assert load_manifest(out).quantization == "float32" == replaced.quantization


def test_bare_checkpoint_needs_a_task(t5_checkpoint: Path, tmp_path: Path) -> None:
    bare = _bare_copy(t5_checkpoint, tmp_path / "bare")
    with pytest.raises(ConversionError, match=r"serving\.json"):
        convert(bare, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    overrides = {"summarization": [{"language": "en", "input_template": "summarize: {text}"}]}
    manifest = convert(bare, tmp_path / "out", overrides=overrides)
    assert manifest.name == "out" and not manifest.translation
    assert manifest.summarization[0].input_template == "summarize: {text}"


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: None, "no config.json"),
        (lambda d: (d / "config.json").write_text("{not json"), "not valid JSON"),
        (lambda d: (d / "config.json").write_text('{"model_type": "gpt2"}'), "not supported"),
    ],
    ids=["no-config", "bad-json", "unsupported-family"],
)
def test_unusable_checkpoints_are_refused_clearly(
    tmp_path: Path, setup: object, message: str
) -> None:
    source = tmp_path / "source"
    source.mkdir()
    setup(source)  # type: ignore[operator]
    with pytest.raises(ConversionError, match=message):
        convert(source, tmp_path / "registry" / "out")
    assert not (tmp_path / "registry" / "out").exists()


def test_failed_engine_conversion_leaves_nothing_behind(
    t5_checkpoint: Path, tmp_path: Path
) -> None:
    broken = _bare_copy(t5_checkpoint, tmp_path / "broken")
    (broken / "serving.json").write_text(json.dumps(_serving()))
    (broken / "model.safetensors").unlink()  # config and tokenizer, but no weights
    registry = tmp_path / "registry"
    with pytest.raises(ConversionError, match="CTranslate2 cannot convert"):
        convert(broken, registry / "broken")  # the engine's own error is in the message
    assert list(registry.iterdir()) == []


def test_missing_tokenizer_is_named(t5_checkpoint: Path, tmp_path: Path) -> None:
    source = _bare_copy(t5_checkpoint, tmp_path / "source")
    (source / "spiece.model").unlink()
    with pytest.raises(ConversionError, match=r"spiece\.model"):
        convert(source, tmp_path / "registry" / "out", overrides=_serving())
    assert list((tmp_path / "registry").iterdir()) == []


def test_cli_converts_and_reports(t5_checkpoint: Path, tmp_path: Path) -> None:
    bare = _bare_copy(t5_checkpoint, tmp_path / "bare")
    out = tmp_path / "registry" / "cli-model"
    cmd = [sys.executable, "-m", "service", "convert", str(bare), str(out), "--task",
           "translation", "--source-language", "en", "--target-language", "de",
           "--template", "translate English to German: {text}",
           "--quantization", "int8"]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "cli-model" in proc.stdout and "translation en->de" in proc.stdout
    assert "token for token" in proc.stdout  # --verify is on by default: the parity table
    route = load_manifest(out).translation[0]
    assert (route.source_language, route.target_language) == ("en", "de")

    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 2
    assert "--force" in again.stderr and "Traceback" not in again.stderr

    half = subprocess.run(
        [*cmd[:5], str(tmp_path / "x"), "--task", "translation", "--source-language", "en"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert half.returncode == 2 and "--target-language" in half.stderr
    assert "Traceback" not in half.stderr


@pytest.mark.slow
def test_marian_checkpoint_converts_and_translates(tmp_path: Path) -> None:
    """The benchmark's Marian builder at toy size: checkpoint → ``converters.convert`` → decode."""
    import ctranslate2

    from bench.model import ModelSpec, load_or_build

    spec = ModelSpec(
        name="tiny-marian", vocab_size=300, d_model=32, encoder_layers=1, decoder_layers=1,
        attention_heads=2, ffn_dim=64, lexicon_size=400, corpus_sentences=3000,
        input_sentences=4, input_min_tokens=8, input_max_tokens=80,
    )  # fmt: skip
    built = load_or_build(spec, cache=tmp_path, progress=lambda _msg: None)
    manifest = load_manifest(built.model_dir)
    assert manifest.family == "marian" and manifest.name == "tiny-marian"
    assert (manifest.tokenizer.source_file, manifest.tokenizer.target_file) == (
        "source.spm",
        "target.spm",
    )
    assert (built.source_language, built.target_language) == ("en", "de")
    tokenizer = load_tokenizer(manifest.tokenizer, built.model_dir)
    translator = ctranslate2.Translator(str(built.model_dir), device="cpu")
    sources = [tokenizer.encode(s) for s in built.sentences]
    results = translator.translate_batch(
        sources, min_decoding_length=6, max_decoding_length=6, beam_size=1
    )
    assert [len(r.hypotheses[0]) for r in results] == [6] * len(sources)
    # the cache is reused: a second call builds nothing
    assert load_or_build(spec, cache=tmp_path, progress=lambda _msg: None).root == built.root
