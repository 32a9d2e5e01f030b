"""``python -m bench --encoder-only`` and ``--agreement``: the torch engine's sections on their
own (the rest of ``make bench`` is about the CTranslate2 service and takes much longer)."""

from __future__ import annotations

import argparse
import json
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.agreement import agreement_markdown, run_agreement
from bench.encoder import encoder_markdown, run_encoder_section


def run_torch_sections(
    args: argparse.Namespace, stamp: str, log_dir: Path, progress: Callable[[str], None]
) -> int:
    report: dict[str, Any] = {"meta": {"command": _command(args), "versions": _versions()}}
    lines: list[str] = []
    if args.agreement:
        report["agreement"] = run_agreement(progress)
        lines += agreement_markdown(report["agreement"])
    if args.encoder_only:
        report["encoder"] = run_encoder_section(args, log_dir, progress)
        lines += encoder_markdown(report["encoder"])
    name = "agreement" if args.agreement and not args.encoder_only else "encoder"
    json_path = args.out / f"{stamp}-{name}.json"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    (args.out / f"{stamp}-{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    progress(f"wrote {json_path} (+ .md)")
    return 0


def _command(args: argparse.Namespace) -> str:
    parts = ["python -m bench"]
    if args.agreement:
        parts.append("--agreement")
    if args.encoder_only:
        parts += ["--encoder-only", f"--encoder-documents {args.encoder_documents}"]
        if args.device != "cpu":
            parts += [f"--device {args.device}", f"--encoder-engines {args.encoder_engines}"]
    return " ".join(parts)


def _versions() -> dict[str, str]:
    import torch
    import transformers

    try:  # absent where the torch engine runs alone (a GPU without CUDA 12's cuBLAS)
        import ctranslate2

        ct2 = ctranslate2.__version__
    except ImportError:
        ct2 = "not installed"
    return {
        "python": platform.python_version(),
        "ctranslate2": ct2,
        "torch": str(torch.__version__),
        "transformers": transformers.__version__,
    }
