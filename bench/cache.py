"""The result-cache section of `make bench`: hits (memory tier, Redis only), half hits, misses,
and the cache turned off, at C=1 and C=128, on the benchmark model.

Every mode runs its own server (and, where Redis is used, its own fresh ``redis-server``), so no
mode sees another's entries. Hits come from a set of sentences decoded once before the clock
starts; misses are sentences made unique with a numeric suffix, so the cache cannot answer them.

What a cache that never hits costs is a few percent at most, less than this machine's speed
drifts within minutes (the engine's own ceiling moved 10 % between two runs an hour apart). So
"cache off" and "0 % hits" run alternately, ``--cache-repeats`` times each at every C, and are
compared by the median of their runs.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import load
from bench.server import serving
from tests.redisproc import redis_server

HOT_SET = 256  # sentences decoded before the clock starts: the hits
# (label, memory tier MiB, uses Redis, share of requests that are hits)
MODES: tuple[tuple[str, int, bool, float], ...] = (
    ("cache off", -1, False, 0.0),
    ("0% hits (memory + Redis)", 64, True, 0.0),
    ("50% hits (memory + Redis)", 64, True, 0.5),
    ("100% hits, memory tier", 64, False, 1.0),
    ("100% hits, Redis only", 0, True, 1.0),
)


def _requests(
    model: Any, options: dict[str, Any], hit_share: float, count: int
) -> tuple[list[Any], list[Any]]:
    """(warm-up requests that fill the cache, measured requests with the given hit share)."""
    sentences = list(model.sentences)
    hot = sentences[:HOT_SET]

    def build(texts: list[str]) -> list[Any]:
        return load.build_requests(
            texts,
            model=model.name,
            source=model.source_language,
            target=model.target_language,
            options=options,
        )

    # Hits drawn at random (seeded) per request, so that every closed-loop caller, which takes
    # every C-th request, sees the same mix.
    draw = random.Random(7)
    texts = []
    for i in range(count):
        if draw.random() < hit_share:
            texts.append(hot[i % len(hot)])
        else:  # a sentence nobody sent before
            # The number goes inside the sentence: after its full stop it would be a segment
            # of its own (kept verbatim) and the sentence a cache hit.
            sentence = sentences[i % len(sentences)].rstrip(".")
            texts.append(f"{sentence} {i // len(sentences) + 1}.")
    return build(hot), build(texts)


def run_cache_section(
    args: argparse.Namespace,
    model: Any,
    flags: list[str],
    log_dir: Path,
    progress: Callable[[str], None],
) -> list[dict[str, Any]]:
    options = {"beam_size": 1, "min_length": args.out_tokens, "max_length": args.out_tokens}
    points: list[dict[str, Any]] = []
    off, misses, *rest = MODES
    schedule = [(mode, c) for c in args.cache_concurrency for _ in range(args.cache_repeats)
                for mode in (off, misses)]  # fmt: skip
    schedule += [(mode, c) for mode in rest for c in args.cache_concurrency]
    for (label, memory_mb, use_redis, hit_share), c in schedule:
        # a fresh server and Redis per point
        with (
            tempfile.TemporaryDirectory(prefix="bench-redis-") as tmp,
            redis_server(Path(tmp)) as redis,
        ):
            extra = ["--cache", "off"] if memory_mb < 0 else ["--cache-memory-mb", str(memory_mb)]
            if use_redis:
                extra += ["--redis-url", redis.url]
            with serving(model.registry, log_dir, *flags, *extra) as server:
                warm, measured = _requests(model, options, hit_share, 20000)
                if hit_share > 0:  # decode the hot set once, before the clock
                    load.run(load.send_all(server.target, warm, concurrency=32))
                result = load.run(
                    load.closed_loop(
                        server.target,
                        measured,
                        concurrency=c,
                        seconds=args.seconds,
                        warmup=args.warmup,
                    )
                )
        point = {"mode": label, "hit_share": hit_share, **result.summary()}
        points.append(point)
        progress(
            f"cache: {label}: C={c}: {point['sentences_per_s']} req/s, "
            f"p50 {point['p50_ms']} ms, p99 {point['p99_ms']} ms"
        )
    return points


def cache_markdown(points: list[dict[str, Any]]) -> list[str]:
    lines = [
        "",
        "#### Result cache (one sentence per call, greedy, forced length)",
        "",
        "| mode | C | requests/s | p50 ms | p99 ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for p in points:
        lines.append(
            f"| {p['mode']} | {p['concurrency']} | {p['sentences_per_s']} | {p['p50_ms']} | "
            f"{p['p99_ms']} |"
        )
    lines += ["", "| a cache that never hits vs cache off (median of alternating runs) | C | "
              "requests/s | p50 ms | target < 3 % |", "|---|---:|---:|---:|---|"]  # fmt: skip
    for c, cost in miss_costs(points).items():
        lines.append(
            f"| 0 % hits vs off | {c} | {cost['throughput']:+.1%} | {cost['p50']:+.1%} | "
            f"{'yes' if cost['throughput'] > -0.03 else 'NO'} |"
        )
    return lines


def miss_costs(points: list[dict[str, Any]]) -> dict[int, dict[str, float]]:
    """Per C: relative change of the medians of "0 % hits" over "cache off" runs."""
    off_label, miss_label = MODES[0][0], MODES[1][0]
    out: dict[int, dict[str, float]] = {}
    for c in sorted({p["concurrency"] for p in points}):
        runs = {
            label: [p for p in points if p["mode"] == label and p["concurrency"] == c]
            for label in (off_label, miss_label)
        }
        if not all(runs.values()):
            continue
        medians = {
            (label, key): statistics.median(p[key] for p in runs[label])
            for label in runs
            for key in ("sentences_per_s", "p50_ms")
        }
        out[c] = {
            "throughput": medians[miss_label, "sentences_per_s"]
            / medians[off_label, "sentences_per_s"]
            - 1,
            "p50": medians[miss_label, "p50_ms"] / medians[off_label, "p50_ms"] - 1,
        }
    return out
