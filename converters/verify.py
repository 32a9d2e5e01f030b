"""Checks a freshly converted model directory before it is moved into place.

The engine must load it, the tokenizer's pieces must exist in the engine's source vocabulary (a
mismatch would silently turn every input into ``<unk>``), and a short input must decode.
"""

from __future__ import annotations

import json
from pathlib import Path

from service.manifest import load_manifest
from service.tokenization import load_tokenizer

SAMPLE = "The weather is nice today, and 42 people are in the park."


class VerificationError(Exception):
    """The converted model does not work; the message says how."""


def source_vocabulary(model_dir: Path) -> set[str]:
    for name in ("shared_vocabulary", "source_vocabulary"):
        json_file = model_dir / f"{name}.json"
        if json_file.is_file():
            return set(json.loads(json_file.read_text(encoding="utf-8")))
        text_file = model_dir / f"{name}.txt"
        if text_file.is_file():
            return set(text_file.read_text(encoding="utf-8").splitlines())
    raise VerificationError(f"{model_dir} has no source vocabulary file")


def smoke_test(model_dir: Path) -> None:
    manifest = load_manifest(model_dir)
    tokenizer = load_tokenizer(manifest.tokenizer, model_dir)
    tokens = tokenizer.encode(SAMPLE)
    if manifest.engine == "torch":
        from converters.torch_writer import torch_vocabulary

        _check_vocabulary(tokens, torch_vocabulary(model_dir))
        _smoke_test_torch(model_dir, tokens)
    else:
        _check_vocabulary(tokens, source_vocabulary(model_dir))
        _smoke_test_ct2(model_dir, tokens)


def _check_vocabulary(tokens: list[str], vocabulary: set[str]) -> None:
    missing = [t for t in tokens if t not in vocabulary]
    if len(missing) > len(tokens) // 2:
        raise VerificationError(
            f"{len(missing)} of {len(tokens)} tokenizer pieces are not in the engine vocabulary "
            f"(e.g. {missing[:5]}); the tokenizer files do not match the model"
        )


def _smoke_test_ct2(model_dir: Path, tokens: list[str]) -> None:
    import ctranslate2

    try:
        translator = ctranslate2.Translator(str(model_dir), device="cpu", compute_type="default")
        result = translator.translate_batch([tokens], beam_size=1, max_decoding_length=4)
    except (RuntimeError, ValueError) as exc:
        raise VerificationError(f"the engine cannot run the converted model: {exc}") from exc
    if not result or not result[0].hypotheses:
        raise VerificationError("the converted model produced no output for a sample input")


def _smoke_test_torch(model_dir: Path, tokens: list[str]) -> None:
    from converters.torch_writer import open_torch_engine
    from service.engines.base import EngineInput
    from service.types import ResolvedOptions

    engine = open_torch_engine(model_dir)
    try:
        (output,) = engine.generate([EngineInput(tuple(tokens))], ResolvedOptions(max_length=4))
    except (RuntimeError, ValueError) as exc:
        raise VerificationError(f"the torch engine cannot run the converted model: {exc}") from exc
    finally:
        engine.close()
    if not output.hypotheses:
        raise VerificationError("the converted model produced no output for a sample input")
