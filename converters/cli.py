"""Arguments of ``s2s convert`` and what it runs; the service CLI mounts them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from converters.base import ENGINES, QUANTIZATIONS, ConversionError
from converters.torch_writer import TORCH_QUANTIZATIONS
from service.manifest import ManifestError

DEFAULT_QUANTIZATION = {"ctranslate2": "int8", "torch": "float32"}


def add_convert_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Convert a Hugging Face checkpoint (T5/FLAN-T5/mT5, Marian) into a servable model "
        "directory: CTranslate2 files (or, with --engine torch, safetensors for the PyTorch "
        "engine), tokenizer and manifest.json. Tasks and defaults come "
        "from the checkpoint's serving.json; the flags below override it."
    )
    parser.add_argument("source_dir", type=Path, metavar="SOURCE_DIR", help="checkpoint dir")
    parser.add_argument("output_dir", type=Path, metavar="OUTPUT_DIR", help="model dir to write")
    parser.add_argument(
        "--engine", default="ctranslate2", choices=ENGINES,
        help="engine that serves the model (default ctranslate2; torch: PyTorch weights for the "
        "torch engine, which caches encoder outputs)",
    )  # fmt: skip
    parser.add_argument(
        "--quantization", choices=sorted({*QUANTIZATIONS, *TORCH_QUANTIZATIONS}),
        help="weight type (ctranslate2: default int8, best on CPU; GPUs: int8_float16, float16, "
        "bfloat16. torch: float32 (default), float16, bfloat16)",
    )  # fmt: skip
    parser.add_argument("--name", help="model name clients use (default: serving.json or dir)")
    parser.add_argument("--force", action="store_true", help="replace OUTPUT_DIR if it exists")
    parser.add_argument(
        "--task", choices=("translation", "summarization"),
        help="declare the task when the checkpoint has no serving.json",
    )  # fmt: skip
    parser.add_argument("--source-language", help="source (or summary) language, e.g. en")
    parser.add_argument("--target-language", help="target language for --task translation")
    parser.add_argument(
        "--template", default="{text}", help="input template, e.g. 'summarize: {text}'"
    )


def overrides_from(args: argparse.Namespace) -> dict[str, Any] | None:
    if args.task is None:
        return None
    if not args.source_language:
        raise ConversionError("--task needs --source-language")
    if args.task == "translation":
        if not args.target_language:
            raise ConversionError("--task translation needs --target-language")
        route = {
            "source_language": args.source_language,
            "target_language": args.target_language,
            "input_template": args.template,
        }
        return {"translation": [route]}
    return {"summarization": [{"language": args.source_language, "input_template": args.template}]}


def run_convert(args: argparse.Namespace) -> int:
    from converters import convert

    try:
        manifest = convert(
            args.source_dir,
            args.output_dir,
            quantization=args.quantization or DEFAULT_QUANTIZATION[args.engine],
            name=args.name,
            force=args.force,
            overrides=overrides_from(args),
            engine=args.engine,
        )
    except (ConversionError, ManifestError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    tasks = [f"translation {r.source_language}->{r.target_language}" for r in manifest.translation]
    tasks += [f"summarization {r.language}" for r in manifest.summarization]
    print(
        f"converted {args.source_dir} -> {args.output_dir}: model {manifest.name!r} "
        f"({manifest.family}, {manifest.engine} {manifest.quantization}; {', '.join(tasks)}) "
        f"revision {manifest.revision[:19]}"
    )
    return 0
