"""``python -m bench --encoder-only`` (and a section of ``make bench``): where the encoder
dominates, what the torch engine's encoder-output cache saves.

Summarisation-shaped work on the benchmark's Marian-base: 400-token documents, 16 or 32 output
tokens (forced, so every system produces the same number), one caller (C=1: the latency a
request sees). Every system runs at once, each in its own server (the torch ones with the
result cache off, ``--cache off`` or ``--cache encoder`` + their own ``redis-server``), and the
requests are **interleaved** document by document, so load from anything else on the machine
falls on every mode alike:

- torch (float32, the CPU default, and int8), cache off: the document is encoded; the encoder's
  time comes from the server's own ``s2s_engine_phase_seconds``;
- torch, encoder cache, **miss**: the document is new to that server (encoded, then stored);
- torch, encoder cache, **hit**: the same request again right after (the result cache is off,
  so it is decoded again, from the stored encoder output);
- CTranslate2 float32 and int8 on the same checkpoint, for reference (no encoder cache).

Then one source decoded with k option sets (greedy and beam 4, 16 and 32 tokens): the time for
all k decodes of a document, torch cache off vs on (the first decode misses, the others hit),
and CTranslate2 for reference.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from bench.encoder_model import EncoderBenchModel, load_or_build
from bench.model import SOURCE_LANGUAGE, TARGET_LANGUAGE, ModelSpec
from bench.server import serving
from service.client import Seq2SeqClient
from service.types import DecodingOptions, Segmentation
from tests.redisproc import redis_server
from tests.serverproc import ServerProcess

Progress = Callable[[str], None]
COMPUTE = ("float32", "int8")
K_OPTIONS = (  # one source, k decodes
    DecodingOptions(beam_size=1, min_length=16, max_length=16),
    DecodingOptions(beam_size=1, min_length=32, max_length=32),
    DecodingOptions(beam_size=4, min_length=16, max_length=16),
    DecodingOptions(beam_size=4, min_length=32, max_length=32),
)
# server label → (registry variant, --compute-type, encoder cache on)
SERVERS = {
    "torch float32": ("torch", "float32", False),
    "torch float32 + cache": ("torch", "float32", True),
    "torch int8": ("torch", "int8", False),
    "torch int8 + cache": ("torch", "int8", True),
    "ctranslate2 float32": ("ct2-float32", "float32", False),
    "ctranslate2 int8": ("ct2-int8", "int8", False),
}

# CPU compute type → the one the same server runs on a GPU (the labels keep the CPU names).
GPU_COMPUTE = {"float32": "float16", "int8": "bfloat16", "ct2 float32": "float16",
               "ct2 int8": "int8_float16"}  # fmt: skip


def forced(out_tokens: int, beam: int = 1) -> DecodingOptions:
    return DecodingOptions(beam_size=beam, min_length=out_tokens, max_length=out_tokens)


@contextmanager
def _servers(
    model: EncoderBenchModel, log_dir: Path, device: str
) -> Iterator[dict[str, tuple[ServerProcess, Seq2SeqClient]]]:
    """Every server of SERVERS running at once, with a client each (on ``cuda``: the GPU
    compute types instead, float16 for both engines and CTranslate2's int8_float16)."""
    with ExitStack() as stack:
        running = {}
        for label, (variant, compute, cache) in SERVERS.items():
            if variant not in model.registries:  # an engine left out (--encoder-engines)
                continue
            if device == "cuda":
                compute = GPU_COMPUTE[compute if variant == "torch" else f"ct2 {compute}"]
            flags = ["--cache", "encoder" if cache else "off", "--compute-type", compute]
            flags += ["--device", device]
            if cache:
                tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-enc-"))
                flags += ["--redis-url", stack.enter_context(redis_server(Path(tmp))).url]
            server = stack.enter_context(serving(model.registries[variant], log_dir, *flags))
            client = stack.enter_context(Seq2SeqClient(server.target, timeout=300))
            for options in K_OPTIONS:  # first allocations and kernels of each shape, unmeasured
                _timed(client, model.warmup, options)
            running[label] = (server, client)
        yield running


def _timed(client: Seq2SeqClient, text: str, options: DecodingOptions) -> float:
    started = time.perf_counter()
    # whole: a document cut into sentences would be many encoder inputs, each forced to the length
    reply = client.translate(
        [text], SOURCE_LANGUAGE, TARGET_LANGUAGE, options=options, segmentation=Segmentation.NONE
    )
    elapsed = time.perf_counter() - started
    assert reply.results[0].output_tokens == options.max_length, reply.results[0]
    return elapsed * 1000


def _phase(server: ServerProcess, phase: str) -> float:
    return server.metric("s2s_engine_phase_seconds_sum", phase=phase)


def _single(
    running: dict[str, tuple[ServerProcess, Seq2SeqClient]],
    docs: list[str],
    out_tokens: int,
    progress: Progress,
) -> list[dict[str, Any]]:
    """Per document, interleaved: each system once (torch with the cache: miss, then hit)."""
    options = forced(out_tokens)
    latencies: dict[str, list[float]] = {}
    encoder_s: dict[str, float] = {}
    decoder_s: dict[str, float] = {}
    modes = []
    for label in running:
        modes += [f"{label}: miss", f"{label}: hit"] if label.endswith("cache") else [label]
    before = {
        label: (_phase(s, "encoder"), _phase(s, "decoder")) for label, (s, _) in running.items()
    }
    for doc in docs:
        for label, (_, client) in running.items():
            if label.endswith("cache"):  # new to this server: a miss, then the same again: a hit
                latencies.setdefault(f"{label}: miss", []).append(_timed(client, doc, options))
                latencies.setdefault(f"{label}: hit", []).append(_timed(client, doc, options))
            else:
                latencies.setdefault(label, []).append(_timed(client, doc, options))
    for label, (server, _) in running.items():
        encoder_s[label] = _phase(server, "encoder") - before[label][0]
        decoder_s[label] = _phase(server, "decoder") - before[label][1]
    points = []
    for mode in modes:
        label = mode.split(":")[0]
        values = latencies[mode]
        point: dict[str, Any] = {
            "mode": _name(mode), "out_tokens": out_tokens, "requests": len(values),
            "mean_ms": round(statistics.fmean(values), 1),
            "p50_ms": round(statistics.median(values), 1),
        }  # fmt: skip
        if label.startswith("torch") and not label.endswith("cache"):
            encoder_ms = 1000 * encoder_s[label] / len(values)
            point["encoder_ms"] = round(encoder_ms, 1)
            point["decoder_ms"] = round(1000 * decoder_s[label] / len(values), 1)
            point["encoder_share"] = round(encoder_ms / point["mean_ms"], 3)
        points.append(point)
        progress(f"encoder: {point}")
    return points


def _name(mode: str) -> str:
    """'torch int8 + cache: hit' → 'torch int8, encoder hit'; 'torch int8' → '..., cache off'."""
    if mode.endswith(("miss", "hit")):
        label, outcome = mode.split(": ")
        return f"{label.removesuffix(' + cache')}, encoder {outcome}"
    return f"{mode}, cache off" if mode.startswith("torch") else mode


def _k_way(
    running: dict[str, tuple[ServerProcess, Seq2SeqClient]], docs: list[str], progress: Progress
) -> list[dict[str, Any]]:
    """Each document decoded with every option set in K_OPTIONS; time per document."""
    per_doc: dict[str, list[float]] = {}
    for doc in docs:
        for label, (_, client) in running.items():  # new to every server: the first misses
            total = sum(_timed(client, doc, options) for options in K_OPTIONS)
            per_doc.setdefault(label, []).append(total)
    points = []
    for label, values in per_doc.items():
        mean = statistics.fmean(values)
        point = {
            "mode": label.replace(" + cache", ", encoder cache"), "k": len(K_OPTIONS),
            "documents": len(values), "mean_ms_per_document": round(mean, 1),
            "mean_ms_per_request": round(mean / len(K_OPTIONS), 1),
        }  # fmt: skip
        points.append(point)
        progress(f"encoder k-way: {point}")
    return points


def run_encoder_section(
    args: argparse.Namespace, log_dir: Path, progress: Progress
) -> dict[str, Any]:
    n = args.encoder_documents
    model = load_or_build(
        ModelSpec(), documents=3 * n, tokens=args.encoder_tokens, cache=args.cache,
        progress=progress, engines=tuple(args.encoder_engines.split(",")),
    )  # fmt: skip
    # Each pass gets documents no server has seen (a suffix would not do: the bench vocabulary
    # has no digits, so "text 16" and "text 32" are the same encoder input).
    docs = [list(model.documents[i * n : (i + 1) * n]) for i in range(3)]
    with _servers(model, log_dir, args.device) as running:
        single = _single(running, docs[0], 16, progress) + _single(running, docs[1], 32, progress)
        k_way = _k_way(running, docs[2], progress)
    return {
        "model": model.name,
        "device": args.device,
        "input_tokens": model.tokens,
        "documents": n,  # per pass (16 out, 32 out, k option sets), each new to the servers
        "single": single,
        "k_way": k_way,
        "targets": _targets(single),
    }


def _targets(single: list[dict[str, Any]]) -> dict[str, Any]:
    """A hit cuts the median latency by about the encoder's share (at least 40 % with 16
    output tokens); a miss costs < 5 % over cache off."""
    out: dict[str, Any] = {}
    for n in sorted({p["out_tokens"] for p in single}):
        for compute in COMPUTE:
            by = {p["mode"]: p for p in single if p["out_tokens"] == n}
            off, miss, hit = (
                by[f"torch {compute}, {m}"] for m in ("cache off", "encoder miss", "encoder hit")
            )
            # medians: one request held up by another process on a shared machine moves a mean
            cut = 1 - hit["p50_ms"] / off["p50_ms"]
            overhead = miss["p50_ms"] / off["p50_ms"] - 1
            out[f"torch {compute}, {n} out"] = {
                "encoder_share": off.get("encoder_share", 0.0),
                "hit_cut": round(cut, 3),
                "hit_cut_met": cut >= 0.4 if n == 16 else None,
                "miss_overhead": round(overhead, 3),
                "miss_overhead_met": overhead < 0.05,
            }
    return out


def encoder_markdown(section: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"#### Encoder-output cache ({section['model']} on {section.get('device', 'cpu')}, "
        f"{section['input_tokens']}-token inputs, {section['documents']} documents per pass, "
        "C=1, forced output length, modes interleaved)",
        "",
        "| mode | out tokens | mean ms | p50 ms | encoder ms | decoder ms | encoder share |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for p in section["single"]:
        lines.append(
            f"| {p['mode']} | {p['out_tokens']} | {p['mean_ms']} | {p['p50_ms']} | "
            f"{p.get('encoder_ms', '')} | {p.get('decoder_ms', '')} | "
            f"{p.get('encoder_share', '')} |"
        )
    lines += [
        "",
        "| one source, k option sets | k | ms per document | ms per request |",
        "|---|---:|---:|---:|",
    ]
    for p in section["k_way"]:
        lines.append(
            f"| {p['mode']} | {p['k']} | {p['mean_ms_per_document']} | {p['mean_ms_per_request']} |"
        )
    lines += [
        "",
        "| engine, output (p50) | encoder share (off) | hit cut | ≥ 40 % | miss overhead | < 5 % |",
        "|---|---:|---:|---|---:|---|",
    ]
    for name, t in section["targets"].items():
        lines.append(
            f"| {name} | {t['encoder_share']} | {t['hit_cut']} | {_met(t['hit_cut_met'])} | "
            f"{t['miss_overhead']} | {_met(t['miss_overhead_met'])} |"
        )
    return lines


def _met(value: bool | None) -> str:
    return "-" if value is None else "yes" if value else "NO"
