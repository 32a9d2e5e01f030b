"""The documents section of `make bench`: whole documents of 20-50 sentences at C=1 and C=16.

By default on the benchmark model (Marian-base, every sentence forced to ``--out-tokens``
tokens, so every mode does the same work; ``--documents-model demo`` uses the demo model and
its held-out sentences, natural lengths), result cache off (every document is decoded), four
ways to get a document translated:

* ``streamed``: one TranslateStream call; time to the first segment and to the whole document;
* ``unary``: one Translate call with the whole document (segmented by the server);
* ``split``: the client cuts the document into sentences (the same segmenter) and sends each as
  its own Translate call at once, then reassembles: what a caller does without document support;
* ``unbatched``: ``unary`` against the same service with ``--max-batch-size 1``, the
  LibreTranslate-style baseline (sentences split per request, no batching across requests).

Plus single-sentence calls at C=1, the reference for the first-segment target. Targets (issue
#15): at C=16 whole-document throughput ≥ 4x the unbatched baseline; first-segment p50 at C=1
within 2x a single-sentence call.
"""

from __future__ import annotations

import argparse
import asyncio
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from bench import load
from bench.server import batch_counts, serving
from service.api import seq2seq_pb2 as pb
from service.api import seq2seq_pb2_grpc as pb_grpc
from service.documents.segmentation import segment
from tests.documents import document, english

DEMO_REGISTRY = Path(__file__).resolve().parent.parent / "models"
DOCUMENTS = 48  # distinct documents the callers cycle through
CONCURRENCY = (1, 16)
MODES = ("streamed", "unary", "split")


@dataclass(frozen=True)
class Workload:
    """The model the section runs on, its sentences and the decoding options of every call."""

    label: str
    registry: Path
    model: str
    sentences: Sequence[str]
    options: pb.DecodingOptions


def workload(args: argparse.Namespace, bench_model: Any | None) -> Workload:
    if bench_model is None or args.documents_model == "demo":
        return Workload(
            "demo model, natural output lengths", DEMO_REGISTRY, "", english(300),
            pb.DecodingOptions(),
        )  # fmt: skip
    forced = pb.DecodingOptions(min_length=args.out_tokens, max_length=args.out_tokens)
    return Workload(
        f"Marian-base benchmark model, {args.out_tokens} output tokens per sentence",
        bench_model.registry,
        bench_model.name,
        bench_model.sentences,
        forced,
    )


def make_documents(sentences: Sequence[str], count: int = DOCUMENTS, seed: int = 15) -> list[str]:
    """Documents of 20-50 distinct sentences, in paragraphs with lists and odd spacing."""
    rng = random.Random(seed)
    return [document(rng.sample(list(sentences), rng.randint(20, 50))) for _ in range(count)]


@dataclass
class DocResult:
    concurrency: int
    seconds: float
    totals_ms: list[float] = field(default_factory=list)
    firsts_ms: list[float] = field(default_factory=list)
    sentences: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    completions: dict[int, list[float]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        shaped = load.LoadResult(self.concurrency, self.seconds)
        shaped.completions = self.completions
        shaped.statuses.update(self.statuses)
        docs_per_s, method = shaped.throughput()
        ok = self.statuses.get("OK", 0)
        return {
            "concurrency": self.concurrency,
            "documents_ok": ok,
            "statuses": dict(self.statuses),
            "documents_per_s": round(docs_per_s, 3),
            "sentences_per_s": round(docs_per_s * self.sentences / ok, 1) if ok else 0.0,
            "throughput_method": method,
            "p50_ms": round(load.percentile(self.totals_ms, 50), 1),
            "p95_ms": round(load.percentile(self.totals_ms, 95), 1),
            "first_p50_ms": round(load.percentile(self.firsts_ms, 50), 1),
            "first_p95_ms": round(load.percentile(self.firsts_ms, 95), 1),
        }


async def _one(stub: Any, work: Workload, mode: str, text: str) -> tuple[float, float, int]:
    """(ms to the first segment, ms to the whole document, sentences) for one document."""
    loop = asyncio.get_running_loop()
    sent = loop.time()
    first = None
    if mode == "streamed":
        request = pb.TranslateStreamRequest(request=_request(work, [text]))
        async for message in stub.TranslateStream(request, timeout=300):
            if first is None and message.delta:
                first = loop.time()
            if message.HasField("result"):
                segments = message.result.segments
    elif mode == "split":
        layout = segment(text, "en")

        async def one(sentence: str) -> str:
            reply = await stub.Translate(_request(work, [sentence]), timeout=300)
            return str(reply.results[0].text)

        calls = [asyncio.ensure_future(one(s)) for s in layout.segments]
        await asyncio.wait({calls[0]})
        first = loop.time()
        layout.join(await asyncio.gather(*calls))
        segments = len(calls)
    else:
        reply = await stub.Translate(_request(work, [text]), timeout=300)
        segments = reply.results[0].segments
    done = loop.time()
    return ((first or done) - sent) * 1000, (done - sent) * 1000, segments


def _request(work: Workload, texts: list[str]) -> pb.TranslateRequest:
    return pb.TranslateRequest(
        texts=texts,
        source_language="en",
        target_language="de",
        model=work.model,
        options=work.options,
    )


async def closed_loop(
    target: str,
    work: Workload,
    docs: Sequence[str],
    *,
    mode: str,
    concurrency: int,
    seconds: float,
    warmup: float,
) -> DocResult:
    """``concurrency`` callers, each sending its next document when the last one is done."""
    result = DocResult(concurrency, seconds)
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.Seq2SeqServiceStub(channel)
        loop = asyncio.get_running_loop()
        measure_from = loop.time() + warmup
        stop = measure_from + seconds

        async def caller(offset: int) -> None:
            i = offset
            while loop.time() < stop:
                # A document still running at the end would not count: cancel it there.
                left = stop - loop.time() + 0.05
                try:
                    first, total, sentences = await asyncio.wait_for(
                        _one(stub, work, mode, docs[i % len(docs)]), left
                    )
                    status = "OK"
                except TimeoutError:
                    return
                except grpc.aio.AioRpcError as exc:
                    status, first, total, sentences = exc.code().name, 0.0, 0.0, 0
                i += concurrency
                done = loop.time()
                if measure_from <= done <= stop:
                    result.statuses[status] = result.statuses.get(status, 0) + 1
                    if status == "OK":
                        result.totals_ms.append(total)
                        result.firsts_ms.append(first)
                        result.sentences += sentences
                        result.completions.setdefault(offset, []).append(done)

        await asyncio.gather(*(caller(k) for k in range(concurrency)))
    return result


def run_documents_section(
    args: argparse.Namespace,
    bench_model: Any | None,
    log_dir: Path,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    work = workload(args, bench_model)
    docs = make_documents(work.sentences)
    sizes = [len(segment(d, "en").segments) for d in docs]
    progress(
        f"documents on the {work.label}: {len(docs)} documents of "
        f"{min(sizes)}-{max(sizes)} sentences"
    )
    flags = ["--device", args.device, "--compute-type", args.compute_type, "--cache", "off"]
    seconds = max(args.seconds, args.documents_seconds)
    points: list[dict[str, Any]] = []

    def measure(server: Any, label: str, mode: str, c: int) -> None:
        texts_before, calls_before = batch_counts(server)
        result = load.run(
            closed_loop(
                server.target, work, docs, mode=mode, concurrency=c, seconds=seconds,
                warmup=args.warmup,
            )
        )  # fmt: skip
        texts, calls = batch_counts(server)
        point = {"mode": label, **result.summary()}
        point["mean_batch_size"] = round((texts - texts_before) / max(1, calls - calls_before), 1)
        points.append(point)
        progress(
            f"documents: {label} C={c}: {point['documents_per_s']} docs/s, whole p50 "
            f"{point['p50_ms']} ms, first segment p50 {point['first_p50_ms']} ms, "
            f"mean batch {point['mean_batch_size']}"
        )

    with serving(work.registry, log_dir, *flags) as server:
        singles = [_request(work, [s]) for s in work.sentences]
        single = load.run(
            load.closed_loop(
                server.target, singles, concurrency=1, seconds=seconds, warmup=args.warmup
            )
        ).summary()
        progress(f"documents: single sentence C=1: p50 {single['p50_ms']} ms")
        for c in CONCURRENCY:
            for mode in MODES:
                measure(server, mode, mode, c)
    with serving(work.registry, log_dir, *flags, "--max-batch-size", "1") as server:
        for c in CONCURRENCY:
            measure(server, "unbatched", "unary", c)
    return {
        "workload": work.label,
        "seconds_per_point": seconds,
        "single_sentence": single,
        "points": points,
        "targets": _targets(points, single),
    }


def _find(points: list[dict[str, Any]], mode: str, c: int) -> dict[str, Any]:
    return next(p for p in points if p["mode"] == mode and p["concurrency"] == c)


def _targets(points: list[dict[str, Any]], single: dict[str, Any]) -> dict[str, Any]:
    """The issue's two targets; a point without completions (a window shorter than a
    document) is reported as not measured, never as met."""
    top = max(CONCURRENCY)
    best = max(_find(points, m, top)["documents_per_s"] for m in ("streamed", "unary"))
    base = _find(points, "unbatched", top)["documents_per_s"]
    first = _find(points, "streamed", 1)["first_p50_ms"]
    limit = 2 * single["p50_ms"]
    ratio = best / base if base and best else None
    measured_first = first == first and limit == limit  # NaN when nothing completed
    return {
        f"c{top}_throughput_vs_unbatched": {
            "value": round(ratio, 2) if ratio else "not measured",
            "target": 4.0,
            "met": bool(ratio and ratio >= 4.0),
        },
        "c1_first_segment_p50_ms": {
            "value": first if measured_first else "not measured",
            "target": round(limit, 2) if measured_first else "-",
            "met": bool(measured_first and first <= limit),
        },
    }


def documents_markdown(section: dict[str, Any]) -> list[str]:
    single = section["single_sentence"]
    lines = [
        "",
        f"#### Documents of 20-50 sentences ({section['workload']}, greedy, cache off, "
        f"{section['seconds_per_point']} s per point)",
        "",
        f"Single-sentence call at C=1: p50 {single['p50_ms']} ms.",
        "",
        "| mode | C | documents/s | sentences/s | whole p50 ms | whole p95 ms | "
        "first segment p50 ms | mean batch |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in section["points"]:
        lines.append(
            f"| {p['mode']} | {p['concurrency']} | {p['documents_per_s']} | "
            f"{p['sentences_per_s']} | {p['p50_ms']} | {p['p95_ms']} | {p['first_p50_ms']} | "
            f"{p['mean_batch_size']} |"
        )
    lines += ["", "| target | value | limit | met |", "|---|---:|---:|---|"]
    for name, t in section["targets"].items():
        lines.append(f"| {name} | {t['value']} | {t['target']} | {'yes' if t['met'] else 'NO'} |")
    return lines
