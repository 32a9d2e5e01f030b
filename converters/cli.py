"""Arguments of ``s2s convert`` and what it runs; the service CLI mounts them."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from typing import Any

from converters.base import ConversionError
from converters.registry import FAMILIES
from converters.writers import WRITERS
from service.manifest import ManifestError


def add_convert_arguments(parser: argparse.ArgumentParser) -> None:
    families = "; ".join(f"{cls.family}: {cls.summary}" for cls in FAMILIES)
    parser.description = (
        "Convert a checkpoint into a servable model directory: engine files, tokenizer and "
        "manifest.json. Hugging Face families are recognised from config.json; tasks and "
        "defaults come from the checkpoint's generation_config.json and serving.json, and the "
        f"flags below override them. Families: {families}."
    )
    parser.add_argument(
        "source_dir", type=Path, metavar="SOURCE",
        help="checkpoint directory (Hugging Face), or a state dict file (pytorch-transformer)",
    )  # fmt: skip
    parser.add_argument("output_dir", type=Path, metavar="OUTPUT_DIR", help="model dir to write")
    parser.add_argument(
        "--family", choices=[cls.family for cls in FAMILIES],
        help="model family (default: from config.json's model_type)",
    )  # fmt: skip
    parser.add_argument(
        "--config", dest="config_file", type=Path,
        help="model.json describing an own PyTorch Transformer (--family pytorch-transformer)",
    )  # fmt: skip
    parser.add_argument(
        "--engine", default="ctranslate2", choices=sorted(WRITERS),
        help="engine that serves the model (default ctranslate2; torch: PyTorch weights for the "
        "torch engine, which caches encoder outputs; Hugging Face families only)",
    )  # fmt: skip
    parser.add_argument(
        "--quantization", choices=sorted({q for w in WRITERS.values() for q in w.quantizations}),
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
    parser.add_argument(
        "--languages", help="many-to-many models: serve only these, e.g. en,de,fr,zh-Hant"
    )
    parser.add_argument(
        "--language-table", type=Path,
        help="JSON object of model language code → request code, for codes the shipped "
        "tables lack",
    )  # fmt: skip
    parser.add_argument(
        "--verify", action=argparse.BooleanOptionalAction, default=None,
        help="compare the converted model with the original on sample texts (token for token "
        "in float32) and fail on a difference (default: on when the convert extra is installed)",
    )  # fmt: skip
    parser.add_argument("--verify-samples", type=Path, help="sample texts, one per line")
    parser.add_argument(
        "--verify-max-length", type=int, default=32, help="tokens decoded per sample (32)"
    )
    parser.add_argument(
        "--verify-threads", type=int, default=0,
        help="CPU threads for verification (default 0: up to four; 1 suits small models)",
    )  # fmt: skip


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


def verify_wanted(flag: bool | None) -> bool:
    """``--verify`` / ``--no-verify``, else on when the original model can be run (torch)."""
    if flag is not None:
        return flag
    return importlib.util.find_spec("torch") is not None


def run_convert(args: argparse.Namespace) -> int:
    from converters import convert
    from converters.verify import VerifyOptions, format_table

    try:
        if args.verify_max_length < 1:
            raise ConversionError("--verify-max-length must be at least 1")
        verify = (
            VerifyOptions(
                samples_file=args.verify_samples,
                max_length=args.verify_max_length,
                threads=max(0, args.verify_threads),
            )
            if verify_wanted(args.verify)
            else False
        )
        manifest = convert(
            args.source_dir,
            args.output_dir,
            quantization=args.quantization,
            name=args.name,
            force=args.force,
            overrides=overrides_from(args),
            family=args.family,
            config_file=args.config_file,
            language_table=args.language_table,
            languages=tuple(c.strip() for c in (args.languages or "").split(",") if c.strip()),
            engine=args.engine,
            verify=verify,
        )
    except (ConversionError, ManifestError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    tasks = [f"translation {r.source_language}->{r.target_language}" for r in manifest.translation]
    if manifest.languages is not None:
        tasks.append(f"translation between {len(manifest.languages.codes)} languages")
    tasks += [f"summarization {r.language}" for r in manifest.summarization]
    print(
        f"converted {args.source_dir} -> {args.output_dir}: model {manifest.name!r} "
        f"({manifest.family}, {manifest.engine} {manifest.quantization}; {', '.join(tasks)}) "
        f"revision {manifest.revision[:19]}"
    )
    if manifest.verification is not None:
        print(format_table(manifest.verification))
    else:
        print("not verified against the original model (--no-verify)")
    return 0
