"""Quality of a converted demo model on held-out data: exact match and chrF per task.

``python -m demo_model.evaluate [--model models/t5-demo] [--heldout demo_model/heldout.jsonl]``

It decodes through the same manifest template and tokenizer the server uses, on the CTranslate2
model the server loads, greedy and beam 4, and prints a markdown table (``--json`` writes it too).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from demo_model.data import TASKS, Example, read_jsonl

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = ROOT / "models" / "t5-demo"
DEFAULT_HELDOUT = Path(__file__).resolve().parent / "heldout.jsonl"
BEAMS = (1, 4)


def decode_all(
    model_dir: Path, examples: list[Example], *, beam_size: int, threads: int = 2
) -> list[str]:
    """Outputs for ``examples`` through the manifest's templates and the served tokenizer."""
    import ctranslate2

    from service.manifest import load_manifest
    from service.tokenization import load_tokenizer

    manifest = load_manifest(model_dir)
    tokenizer = load_tokenizer(manifest.tokenizer, model_dir)
    templates = {
        "translate": manifest.translation[0].input_template,
        "summarize": manifest.summarization[0].input_template,
    }
    translator = ctranslate2.Translator(
        str(model_dir), device="cpu", compute_type="int8", inter_threads=1, intra_threads=threads
    )
    sources = [tokenizer.encode(templates[e.task].format(text=e.text)) for e in examples]
    outputs: list[str] = []
    for start in range(0, len(sources), 64):
        results = translator.translate_batch(
            sources[start : start + 64],
            beam_size=beam_size,
            max_decoding_length=128,
            max_batch_size=64,
        )
        outputs.extend(tokenizer.decode(r.hypotheses[0]) for r in results)
    return outputs


def score(examples: list[Example], outputs: list[str]) -> dict[str, dict[str, float]]:
    import sacrebleu

    table: dict[str, dict[str, float]] = {}
    for task in TASKS:
        pairs = [(o, e.target) for e, o in zip(examples, outputs, strict=True) if e.task == task]
        if not pairs:
            continue
        hyps = [o for o, _ in pairs]
        refs = [r for _, r in pairs]
        table[task] = {
            "n": len(pairs),
            "exact_match": round(100 * sum(h == r for h, r in pairs) / len(pairs), 2),
            "chrf": round(sacrebleu.corpus_chrf(hyps, [refs]).score, 2),
        }
    return table


def evaluate(model_dir: Path, heldout: Path, *, limit: int | None = None) -> dict[str, Any]:
    examples = read_jsonl(heldout)
    if limit:
        examples = [e for t in TASKS for e in [x for x in examples if x.task == t][:limit]]
    report: dict[str, Any] = {"model": str(model_dir.name), "heldout": heldout.name, "runs": {}}
    failures: dict[str, list[dict[str, str]]] = {}
    for beam in BEAMS:
        started = time.perf_counter()
        outputs = decode_all(model_dir, examples, beam_size=beam)
        name = "greedy" if beam == 1 else f"beam{beam}"
        report["runs"][name] = {
            "tasks": score(examples, outputs),
            "seconds": round(time.perf_counter() - started, 1),
        }
        failures[name] = [
            {"input": e.text, "expected": e.target, "got": o}
            for e, o in zip(examples, outputs, strict=True)
            if o != e.target
        ][:20]
    report["sample_errors"] = failures
    return report


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "| task | decoding | examples | exact match (%) | chrF |",
        "|---|---|---:|---:|---:|",
    ]
    for run, data in report["runs"].items():
        for task, row in data["tasks"].items():
            lines.append(
                f"| {task} | {run} | {row['n']} | {row['exact_match']:.1f} | {row['chrf']:.1f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo_model.evaluate", description=__doc__)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--heldout", type=Path, default=DEFAULT_HELDOUT)
    parser.add_argument("--limit", type=int, help="examples per task (default: all)")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    report = evaluate(args.model, args.heldout, limit=args.limit)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
