"""``python -m bench`` / ``make bench``: the service against the raw engine and naive serving.

Phases (each prints progress): build or reuse the Marian-base benchmark model, the engine
ceiling, the batched service at each concurrency (greedy and beam 4), the same service with
batching off, 10x overload, the early-return experiment on the demo model, the result cache
(`bench.cache`) and the torch engine's encoder-output cache (`bench.encoder`; ``--encoder-only``
runs it alone, ``--agreement`` measures torch vs CTranslate2 agreement). Results go to
``bench-results/<timestamp>.json`` (+ ``.png`` and ``.md``); see docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import engine, load
from bench.cache import cache_markdown, run_cache_section
from bench.documents import documents_markdown, run_documents_section
from bench.encoder import encoder_markdown, run_encoder_section
from bench.families import engine_inputs, families_markdown, family_line, parse_families
from bench.model import DEFAULT_CACHE, ModelSpec, load_or_build, spec_for
from bench.server import RssSampler, batch_counts, serving
from bench.torch_sections import run_torch_sections

ROOT = Path(__file__).resolve().parent.parent
DEMO_REGISTRY = ROOT / "models"
DEMO_HELDOUT = ROOT / "demo_model" / "heldout.jsonl"


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument(
        "--compute-type", help="default: int8 on cpu, int8_float16 on cuda (try float16 too)"
    )
    parser.add_argument("--concurrency", default="1,8,32,128", help="comma-separated C values")
    parser.add_argument("--seconds", type=float, default=12.0, help="measured time per point")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured lead-in per point")
    parser.add_argument("--batch-sizes", default="16,32,64", help="ceiling batch sizes to try")
    parser.add_argument("--out-tokens", type=int, default=32, help="forced output length")
    parser.add_argument("--overload-factor", type=float, default=10.0)
    parser.add_argument("--overload-seconds", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results")
    parser.add_argument("--cache", type=Path, default=ROOT / DEFAULT_CACHE)
    parser.add_argument("--quick", action="store_true", help="short points (smoke run)")
    parser.add_argument("--skip-early-return", action="store_true")
    parser.add_argument("--skip-cache", action="store_true", help="skip the result-cache section")
    parser.add_argument(
        "--cache-only", action="store_true", help="run only the result-cache section"
    )
    parser.add_argument(
        "--cache-concurrency", default="1,128", help="C values of the cache section"
    )
    parser.add_argument(
        "--cache-repeats", type=int, default=3,
        help="alternating runs of 'cache off' and '0%% hits' at each C (compared by median)",
    )  # fmt: skip
    parser.add_argument(
        "--family", default="marian", choices=parse_families("all"),
        help="the model family of the main run (default marian; each built at Marian-base size)",
    )  # fmt: skip
    parser.add_argument(
        "--families", type=parse_families, default=[],
        help="also measure one line per family: 'all' or e.g. t5,bart,nllb",
    )  # fmt: skip
    parser.add_argument(
        "--families-only", action="store_true", help="run only the --families lines"
    )
    parser.add_argument("--skip-documents", action="store_true", help="skip the documents section")
    parser.add_argument(
        "--documents-only", action="store_true", help="run only the documents section"
    )
    parser.add_argument(
        "--documents-model",
        choices=["bench", "demo"],
        default="bench",
        help="documents section: the benchmark model (forced lengths) or the demo model",
    )
    parser.add_argument(
        "--documents-seconds",
        type=float,
        default=30.0,
        help="measured time per documents point (a document takes seconds unbatched)",
    )
    parser.add_argument(
        "--encoder-only", action="store_true", help="run only the encoder-output cache section"
    )
    parser.add_argument("--skip-encoder", action="store_true", help="skip the encoder section")
    parser.add_argument("--encoder-documents", type=int, default=24, help="documents per mode")
    parser.add_argument("--encoder-tokens", type=int, default=400, help="tokens per document")
    parser.add_argument(
        "--encoder-engines", default="torch,ctranslate2",
        help="engines of the encoder section ('torch' alone where CTranslate2 cannot use the GPU)",
    )  # fmt: skip
    parser.add_argument(
        "--agreement", action="store_true",
        help="only measure torch vs CTranslate2 and cached vs uncached agreement (demo model)",
    )  # fmt: skip
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.warmup, args.overload_seconds = 2.0, 0.5, 3.0
        args.documents_seconds = 4.0
        args.cache_repeats = 1
        args.encoder_documents = min(args.encoder_documents, 6)
    args.compute_type = args.compute_type or ("int8" if args.device == "cpu" else "int8_float16")
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    args.batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    args.cache_concurrency = [int(c) for c in args.cache_concurrency.split(",")]
    return args


def _service_points(
    args: argparse.Namespace, model: Any, flags: list[str], label: str, log_dir: Path
) -> list[dict[str, Any]]:
    points: list[dict[str, Any]] = []
    with serving(model.registry, log_dir, *flags) as server:
        for beam in (1, 4):
            options = {
                "beam_size": beam,
                "min_length": args.out_tokens,
                "max_length": args.out_tokens,
            }
            requests = load.build_requests(
                model.sentences,
                model=model.name,
                source=model.source_language,
                target=model.target_language,
                options=options,
            )
            for c in args.concurrency:
                before = batch_counts(server)
                result = load.run(
                    load.closed_loop(
                        server.target,
                        requests,
                        concurrency=c,
                        seconds=args.seconds,
                        warmup=args.warmup,
                    )
                )
                after = batch_counts(server)
                batches = after[1] - before[1]
                point = {
                    "mode": label,
                    "beam_size": beam,
                    **result.summary(),
                    "mean_batch_size": round((after[0] - before[0]) / batches, 2) if batches else 0,
                }
                points.append(point)
                progress(
                    f"{label}: beam={beam} C={c}: {point['sentences_per_s']} sentences/s, "
                    f"p50 {point['p50_ms']} ms, p99 {point['p99_ms']} ms, "
                    f"mean batch {point['mean_batch_size']}"
                )
    return points


def _overload(
    args: argparse.Namespace, model: Any, flags: list[str], capacity: float, log_dir: Path
) -> dict[str, Any]:
    rate = args.overload_factor * capacity
    options = {"beam_size": 1, "min_length": args.out_tokens, "max_length": args.out_tokens}
    requests = load.build_requests(
        model.sentences,
        model=model.name,
        source=model.source_language,
        target=model.target_language,
        options=options,
    )
    with serving(model.registry, log_dir, *flags) as server:
        rss_before = server.rss_bytes()
        progress(f"overload: {rate:.0f} requests/s offered (~{args.overload_factor:g}x capacity)")
        with RssSampler(server) as sampler:
            result = load.run(
                load.open_loop(server.target, requests, rate=rate, seconds=args.overload_seconds)
            )
        rss_after = server.rss_bytes()
    summary: dict[str, Any] = result.summary()
    summary.update(
        capacity_sps=round(capacity, 2),
        rss_before_mb=round(rss_before / 2**20, 1),
        rss_peak_mb=round(max(sampler.samples, default=rss_before) / 2**20, 1),
        rss_after_mb=round(rss_after / 2**20, 1),
        rss_samples_mb=[
            round(s / 2**20, 1) for s in sampler.samples[:: max(1, len(sampler.samples) // 50)]
        ],
    )
    progress(
        f"overload: {summary['statuses']}; rejected p99 {summary['rejected_p99_ms']} ms, "
        f"admitted p99 {summary['admitted_p99_ms']} ms, RSS {summary['rss_before_mb']} -> "
        f"peak {summary['rss_peak_mb']} MB"
    )
    return summary


def _early_return(args: argparse.Namespace, log_dir: Path) -> dict[str, Any] | None:
    """Greedy on the demo model with natural output lengths, early return off vs on."""
    if not DEMO_HELDOUT.is_file() or not (DEMO_REGISTRY / "t5-demo").is_dir():
        progress("early return: demo model or held-out data missing; skipped")
        return None
    from demo_model.data import read_jsonl

    texts = [e.text for e in read_jsonl(DEMO_HELDOUT) if e.task == "translate"]
    requests = load.build_requests(
        texts, model="", source="en", target="de", options={"beam_size": 1}
    )
    out: dict[str, Any] = {"model": "t5-demo", "concurrency": 16, "inputs": len(texts)}
    for flag in ("--no-early-return", "--early-return"):
        with serving(DEMO_REGISTRY, log_dir, "--device", "cpu", "--cache", "off", flag) as server:
            result = load.run(
                load.closed_loop(
                    server.target,
                    requests,
                    concurrency=16,
                    seconds=args.seconds,
                    warmup=args.warmup,
                )
            )
        key = "on" if flag == "--early-return" else "off"
        out[key] = result.summary()
        progress(
            f"early return {key}: p50 {out[key]['p50_ms']} ms, p95 {out[key]['p95_ms']} ms, "
            f"{out[key]['sentences_per_s']} sentences/s"
        )
    return out


def _find(points: list[dict[str, Any]], beam: int, c: int) -> dict[str, Any]:
    return next(p for p in points if p["beam_size"] == beam and p["concurrency"] == c)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    args.out.mkdir(parents=True, exist_ok=True)
    log_dir = args.out / f"{stamp}-logs"
    cores = os.cpu_count() or 1

    progress(f"bench: device={args.device} compute_type={args.compute_type} cores={cores}")
    if args.agreement or args.encoder_only:
        return run_torch_sections(args, stamp, log_dir, progress)
    if args.families_only:
        return _families_only(args, stamp, log_dir)
    if args.documents_only and args.documents_model == "demo":  # no benchmark model needed
        return _documents_only(args, None, stamp, log_dir)
    model = load_or_build(spec_for(args.family), args.cache, progress)
    if args.documents_only:
        return _documents_only(args, model, stamp, log_dir)

    from service.config import Settings

    if args.cache_only:
        return _cache_only(args, model, stamp, log_dir)

    inputs = engine_inputs(model)
    lengths = [len(t) for t in inputs]
    progress(f"inputs: {len(inputs)} sentences of {min(lengths)}-{max(lengths)} tokens")

    points = engine.ceiling(
        model.model_dir,
        inputs,
        device=args.device,
        compute_type=args.compute_type,
        cores=cores,
        batch_sizes=args.batch_sizes,
        beams=(1, 4),
        out_tokens=args.out_tokens,
        progress=progress,
    )
    best_greedy, best_beam = engine.best(points, 1), engine.best(points, 4)
    service_layout = Settings(device=args.device).resolve_threads(cores)
    raw_single = engine.single_sentence_ms(
        model.model_dir,
        inputs,
        device=args.device,
        compute_type=args.compute_type,
        layout=service_layout,
        out_tokens=args.out_tokens,
    )
    progress(f"raw single sentence (layout {service_layout}): {raw_single:.2f} ms")

    flags = ["--device", args.device, "--compute-type", args.compute_type]
    # The engine-bound phases decode every request: the benchmark cycles over 512 sentences,
    # which a result cache would otherwise answer (the cache has its own section).
    engine_flags = [*flags, "--cache", "off"]
    batched = _service_points(args, model, engine_flags, "batched", log_dir)
    naive = _service_points(args, model, [*engine_flags, "--max-batch-size", "1"], "naive", log_dir)
    top_c = max(args.concurrency)
    # The service's own capacity if it was measured, else the engine's.
    capacity = _find(batched, 1, top_c)["sentences_per_s"] or best_greedy.sps
    overload = _overload(args, model, engine_flags, capacity, log_dir)
    early = None if args.skip_early_return else _early_return(args, log_dir)
    cache = None if args.skip_cache else run_cache_section(args, model, flags, log_dir, progress)
    families = [family_line(args, f, log_dir, progress) for f in args.families]
    documents = (
        None if args.skip_documents else run_documents_section(args, model, log_dir, progress)
    )
    encoder = None if args.skip_encoder else run_encoder_section(args, log_dir, progress)

    summary = {
        "ceiling_greedy_sps": round(best_greedy.sps, 2),
        "ceiling_beam4_sps": round(best_beam.sps, 2),
        f"service_greedy_sps_c{top_c}": _find(batched, 1, top_c)["sentences_per_s"],
        f"service_beam4_sps_c{top_c}": _find(batched, 4, top_c)["sentences_per_s"],
        f"naive_greedy_sps_c{top_c}": _find(naive, 1, top_c)["sentences_per_s"],
        f"naive_beam4_sps_c{top_c}": _find(naive, 4, top_c)["sentences_per_s"],
        "raw_single_ms": round(raw_single, 2),
        "service_c1_p50_ms": _find(batched, 1, min(args.concurrency))["p50_ms"],
        "overload_rejected_p99_ms": overload["rejected_p99_ms"],
        "overload_admitted_p99_ms": overload["admitted_p99_ms"],
        "overload_rss_growth_mb": round(overload["rss_peak_mb"] - overload["rss_before_mb"], 1),
    }
    targets = _targets(summary, top_c)
    report = {
        "meta": {
            "started": started.isoformat(),
            "command": "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:]),
            "machine": {
                "cores": cores,
                "platform": platform.platform(),
                "processor": platform.processor(),
            },
            "device": args.device,
            "compute_type": args.compute_type,
            "service_thread_layout": list(service_layout),
            "model": {"spec": _spec_dict(model.spec), "converter": model.converter},
            "family": args.family,
            "out_tokens": args.out_tokens,
            "seconds_per_point": args.seconds,
            "versions": _versions(),
        },
        "ceiling": {
            "points": [p.to_dict() for p in points],
            "best_greedy": best_greedy.to_dict(),
            "best_beam4": best_beam.to_dict(),
        },
        "service": batched,
        "naive": naive,
        "overload": overload,
        "early_return": early,
        "cache": cache,
        "families": families,
        "documents": documents,
        "encoder": encoder,
        "summary": summary,
        "targets": targets,
    }
    json_path = args.out / f"{stamp}.json"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report)
    (args.out / f"{stamp}.md").write_text(table + "\n")
    if not args.no_plot:
        from bench.plot import plot

        plot(report, args.out / f"{stamp}.png")
    print(table)
    progress(f"wrote {json_path} (+ .md, .png)")
    return 0


def _cache_only(args: argparse.Namespace, model: Any, stamp: str, log_dir: Path) -> int:
    flags = ["--device", args.device, "--compute-type", args.compute_type]
    points = run_cache_section(args, model, flags, log_dir, progress)
    report = {"meta": {"command": "python -m bench --cache-only", "versions": _versions()},
              "cache": points}  # fmt: skip
    json_path = args.out / f"{stamp}-cache.json"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    print("\n".join(cache_markdown(points)))
    progress(f"wrote {json_path}")
    return 0


def _families_only(args: argparse.Namespace, stamp: str, log_dir: Path) -> int:
    if not args.families:
        progress("--families-only needs --families (e.g. --families all)")
        return 2
    lines = [family_line(args, f, log_dir, progress) for f in args.families]
    report = {
        "meta": {
            "command": "python -m bench " + " ".join(sys.argv[1:]),
            "device": args.device,
            "compute_type": args.compute_type,
            "cores": os.cpu_count(),
            "out_tokens": args.out_tokens,
            "seconds_per_point": args.seconds,
            "versions": _versions(),
        },
        "families": lines,
    }
    json_path = args.out / f"{stamp}-families.json"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    print("\n".join(families_markdown(lines, args.out_tokens)))
    progress(f"wrote {json_path}")
    return 0


def _documents_only(args: argparse.Namespace, model: Any, stamp: str, log_dir: Path) -> int:
    section = run_documents_section(args, model, log_dir, progress)
    command = "python -m bench " + " ".join(sys.argv[1:])
    report = {"meta": {"command": command, "versions": _versions()}, "documents": section}
    json_path = args.out / f"{stamp}-documents.json"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    print("\n".join(documents_markdown(section)))
    progress(f"wrote {json_path}")
    return 0


def _targets(summary: dict[str, Any], c: int) -> dict[str, Any]:
    def check(value: float, limit: float, ok: bool) -> dict[str, Any]:
        return {"value": round(value, 3), "target": round(limit, 3), "met": ok}

    g = summary[f"service_greedy_sps_c{c}"] / summary["ceiling_greedy_sps"]
    b = summary[f"service_beam4_sps_c{c}"] / summary["ceiling_beam4_sps"]
    ng = summary[f"service_greedy_sps_c{c}"] / max(1e-9, summary[f"naive_greedy_sps_c{c}"])
    nb = summary[f"service_beam4_sps_c{c}"] / max(1e-9, summary[f"naive_beam4_sps_c{c}"])
    c1_limit = 1.1 * summary["raw_single_ms"] + 3
    return {
        "greedy_vs_ceiling": check(g, 0.9, g >= 0.9),
        "beam4_vs_ceiling": check(b, 0.9, b >= 0.9),
        "greedy_vs_naive": check(ng, 4, ng >= 4),
        "beam4_vs_naive": check(nb, 4, nb >= 4),
        "c1_p50_ms": check(
            summary["service_c1_p50_ms"], c1_limit, summary["service_c1_p50_ms"] <= c1_limit
        ),
        "overload_rejected_p99_ms": check(
            summary["overload_rejected_p99_ms"], 50, summary["overload_rejected_p99_ms"] < 50
        ),
    }


def markdown(report: dict[str, Any]) -> str:
    s = report["summary"]
    meta = report["meta"]
    lines = [
        f"### `s2s bench` on {meta['machine']['cores']} cores, {meta['device']} "
        f"{meta['compute_type']} ({meta['started'][:19]}Z)",
        "",
        f"Engine ceiling: greedy {s['ceiling_greedy_sps']} sentences/s "
        f"(inter={report['ceiling']['best_greedy']['inter_threads']}, "
        f"intra={report['ceiling']['best_greedy']['intra_threads']}, "
        f"batch {report['ceiling']['best_greedy']['batch_size']}), beam 4 "
        f"{s['ceiling_beam4_sps']} sentences/s; raw single sentence {s['raw_single_ms']} ms.",
        "",
        "| mode | beam | C | sentences/s | tokens/s | p50 ms | p95 ms | p99 ms | mean batch |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in [*report["service"], *report["naive"]]:
        lines.append(
            f"| {p['mode']} | {p['beam_size']} | {p['concurrency']} | {p['sentences_per_s']} | "
            f"{p['tokens_per_s']} | {p['p50_ms']} | {p['p95_ms']} | {p['p99_ms']} | "
            f"{p['mean_batch_size']} |"
        )
    o = report["overload"]
    lines += [
        "",
        f"Overload ({o['offered_per_s']} req/s offered for {o['seconds']} s, capacity "
        f"{o['capacity_sps']}): {o['statuses']}; rejected p99 {o['rejected_p99_ms']} ms; "
        f"admitted p99 {o['admitted_p99_ms']} ms; RSS {o['rss_before_mb']} MB before, "
        f"peak {o['rss_peak_mb']} MB, after {o['rss_after_mb']} MB.",
    ]
    early = report.get("early_return")
    if early:
        lines.append(
            f"Early return (demo model, greedy, C={early['concurrency']}): p50 "
            f"{early['off']['p50_ms']} → {early['on']['p50_ms']} ms, p95 {early['off']['p95_ms']}"
            f" → {early['on']['p95_ms']} ms, {early['off']['sentences_per_s']} → "
            f"{early['on']['sentences_per_s']} sentences/s (off → on)."
        )
    if report.get("cache"):
        lines += cache_markdown(report["cache"])
    lines += families_markdown(report.get("families") or [], meta["out_tokens"])
    if report.get("documents"):
        lines += documents_markdown(report["documents"])
    if report.get("encoder"):
        lines += encoder_markdown(report["encoder"])
    lines += ["", "| target | value | limit | met |", "|---|---:|---:|---|"]
    for name, t in report["targets"].items():
        lines.append(f"| {name} | {t['value']} | {t['target']} | {'yes' if t['met'] else 'NO'} |")
    return "\n".join(lines)


def _spec_dict(spec: ModelSpec) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(spec)


def _versions() -> dict[str, str]:
    import ctranslate2
    import grpc

    return {
        "python": platform.python_version(),
        "ctranslate2": ctranslate2.__version__,
        "grpcio": grpc.__version__,
    }


if __name__ == "__main__":
    sys.exit(main())
