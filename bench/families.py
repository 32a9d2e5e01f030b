"""``python -m bench --families ...``: one line per model family, same protocol as the main run.

Each family is built at Marian-base size with random weights (`bench.checkpoints`), converted
with the project's converter, and measured exactly as the main benchmark measures Marian: the
same 512 inputs of 20-30 tokens, every output forced to ``--out-tokens`` tokens, the engine
ceiling (greedy and beam 4, best batch size and thread layout) and the service with batching
at the top concurrency. What differs between lines is the architecture alone (T5's relative
attention and gated FFN or not, BART's learned positions, vocabulary size, language tokens).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import engine, load
from bench.checkpoints import FAMILIES
from bench.model import BenchModel, load_or_build, spec_for
from bench.server import serving

ALL = ("marian", *(f for f in FAMILIES if f != "marian"))


def parse_families(value: str) -> list[str]:
    names = list(ALL) if value == "all" else [v.strip() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in ALL]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown families {unknown}; expected: all, {ALL}")
    return names


def engine_inputs(model: BenchModel) -> list[list[str]]:
    """What the server sends the engine for each sentence (template and language tokens
    included; a forced target-language token is left out at the engine level)."""
    from service.manifest import load_manifest
    from service.tokenization import load_tokenizer

    manifest = load_manifest(model.model_dir)
    route = manifest.translation[0]
    tokenizer = load_tokenizer(manifest.tokenizer, model.model_dir)
    return [
        [*route.source_prefix, *tokenizer.encode(route.input_template.format(text=s)),
         *route.source_suffix]
        for s in model.sentences
    ]  # fmt: skip


def family_line(
    args: argparse.Namespace, family: str, log_dir: Path, progress: Callable[[str], None]
) -> dict[str, Any]:
    model = load_or_build(spec_for(family), args.cache, progress)
    inputs = engine_inputs(model)
    cores = os.cpu_count() or 1
    points = engine.ceiling(
        model.model_dir, inputs, device=args.device, compute_type=args.compute_type,
        cores=cores, batch_sizes=args.batch_sizes, beams=(1, 4), out_tokens=args.out_tokens,
        progress=progress,
    )  # fmt: skip
    greedy, beam = engine.best(points, 1), engine.best(points, 4)
    top_c = max(args.concurrency)
    options = {"beam_size": 1, "min_length": args.out_tokens, "max_length": args.out_tokens}
    flags = ["--device", args.device, "--compute-type", args.compute_type, "--cache", "off"]
    with serving(model.registry, log_dir / family, *flags) as server:
        requests = load.build_requests(
            model.sentences, model=model.name, source=model.source_language,
            target=model.target_language, options=options,
        )  # fmt: skip
        result = load.run(
            load.closed_loop(
                server.target, requests, concurrency=top_c, seconds=args.seconds,
                warmup=args.warmup,
            )
        )  # fmt: skip
    service = result.summary()
    line = {
        "family": family,
        "model": model.name,
        "ceiling_greedy_sps": round(greedy.sps, 2),
        "ceiling_beam4_sps": round(beam.sps, 2),
        "concurrency": top_c,
        "service_greedy_sps": service["sentences_per_s"],
        "service_p50_ms": service["p50_ms"],
        "ratio_to_ceiling": round(service["sentences_per_s"] / greedy.sps, 2) if greedy.sps else 0,
    }
    progress(
        f"family {family}: ceiling greedy {line['ceiling_greedy_sps']} / beam-4 "
        f"{line['ceiling_beam4_sps']} sentences/s; service C={top_c} "
        f"{line['service_greedy_sps']} sentences/s ({line['ratio_to_ceiling']} of the ceiling)"
    )
    return line


def families_markdown(lines: list[dict[str, Any]], out_tokens: int) -> list[str]:
    if not lines:
        return []
    c = lines[0]["concurrency"]
    rows = [
        "",
        f"Families (Marian-base size, random weights, {out_tokens} output tokens forced):",
        "",
        f"| family | ceiling greedy s/s | ceiling beam-4 s/s | service greedy C={c} s/s "
        "| of ceiling | service p50 ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for x in lines:
        rows.append(
            f"| {x['family']} | {x['ceiling_greedy_sps']} | {x['ceiling_beam4_sps']} | "
            f"{x['service_greedy_sps']} | {x['ratio_to_ceiling']} | {x['service_p50_ms']} |"
        )
    return rows
