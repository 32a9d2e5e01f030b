"""``python -m bench --agreement``: does the torch engine say what CTranslate2 says, and does the
encoder cache change anything?

On the demo model's held-out set (300 translations + 300 summaries), engine level, batches of
32 sorted by length as the batcher sends them:

- torch float32 vs CTranslate2 float32 (the fair pair: same weights, same arithmetic width) and
  vs the shipped CTranslate2 int8 model, greedy and beam 4: token-for-token agreement rate;
- the torch engine with the encoder cache vs without it: every source decoded once as a miss
  (fresh encoder outputs, stored) and again as a hit in other batches (different neighbours,
  reverse order), greedy and beam 4, for each storage dtype (float32, float16, bfloat16);
- the bytes one cached input costs per source token.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from service.cache.memory import ENTRY_OVERHEAD

ROOT = Path(__file__).resolve().parent.parent
CHECKPOINT = ROOT / "demo_model" / "checkpoint"
HELDOUT = ROOT / "demo_model" / "heldout.jsonl"
SHIPPED_CT2 = ROOT / "models" / "t5-demo"
BATCH = 32
KEY_BYTES = len("s2s:v1:e:") + 64
# (engine compute type, encoder-cache storage dtype)
CACHE_ROWS = (("float32", "float32"), ("float32", "float16"), ("float32", "bfloat16"),
              ("int8", "float16"))  # fmt: skip


def _inputs(model_dir: Path) -> list[tuple[str, ...]]:
    from demo_model.data import read_jsonl
    from service.manifest import load_manifest
    from service.tokenization import load_tokenizer

    manifest = load_manifest(model_dir)
    tokenizer = load_tokenizer(manifest.tokenizer, model_dir)
    templates = {
        "translate": manifest.translation[0].input_template,
        "summarize": manifest.summarization[0].input_template,
    }
    return [
        tuple(tokenizer.encode(templates[e.task].format(text=e.text))) for e in read_jsonl(HELDOUT)
    ]


def _batches(n: int, inputs: Sequence[tuple[str, ...]], reverse: bool = False) -> list[list[int]]:
    order = sorted(range(n), key=lambda i: len(inputs[i]), reverse=reverse)
    if reverse:  # other neighbours than the first pass: a hit is decoded in another batch
        order = order[BATCH // 2 :] + order[: BATCH // 2]
    return [order[i : i + BATCH] for i in range(0, n, BATCH)]


Decode = Callable[[list[tuple[str, ...]], int], list[tuple[str, ...]]]


def _run(
    decode: Decode, inputs: list[tuple[str, ...]], beam: int, reverse: bool = False
) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = [()] * len(inputs)
    for batch in _batches(len(inputs), inputs, reverse):
        for i, tokens in zip(batch, decode([inputs[i] for i in batch], beam), strict=True):
            out[i] = tokens
    return out


def _ct2(model_dir: Path) -> Decode:
    import ctranslate2

    translator = ctranslate2.Translator(str(model_dir), device="cpu", compute_type="default")

    def decode(batch: list[tuple[str, ...]], beam: int) -> list[tuple[str, ...]]:
        results = translator.translate_batch(
            [list(x) for x in batch], beam_size=beam, max_decoding_length=128
        )
        return [tuple(r.hypotheses[0]) for r in results]

    return decode


def _torch(engine: Any) -> Decode:
    from service.engines.base import EngineInput
    from service.types import ResolvedOptions

    def decode(batch: list[tuple[str, ...]], beam: int) -> list[tuple[str, ...]]:
        options = ResolvedOptions(beam_size=beam, max_length=128)
        outputs = engine.generate([EngineInput(x) for x in batch], options)
        return [o.hypotheses[0].tokens for o in outputs]

    return decode


def _rate(a: Sequence[object], b: Sequence[object]) -> float:
    return round(100.0 * sum(x == y for x, y in zip(a, b, strict=True)) / len(a), 2)


def run_agreement(progress: Callable[[str], None]) -> dict[str, Any]:
    from converters import convert
    from service.cache.encoder import EncoderCache
    from service.cache.memory import ByteLRU
    from service.engines.torch import TorchEngine
    from service.manifest import load_manifest

    report: dict[str, Any] = {"inputs": 0, "torch_vs_ct2": {}, "cache": {}}
    with tempfile.TemporaryDirectory(prefix="agreement-") as tmp:
        ct2_dir, torch_dir = Path(tmp) / "ct2-f32", Path(tmp) / "torch"
        progress("agreement: converting the demo checkpoint (CTranslate2 float32, torch float32)")
        convert(CHECKPOINT, ct2_dir, quantization="float32")
        convert(CHECKPOINT, torch_dir, quantization="float32", engine="torch")
        inputs = _inputs(torch_dir)
        report["inputs"] = len(inputs)
        revision = load_manifest(torch_dir).revision
        plain = TorchEngine(torch_dir, name="agreement", revision=revision)
        reference: dict[int, list[tuple[str, ...]]] = {}
        for beam in (1, 4):
            started = time.perf_counter()
            reference[beam] = _run(_torch(plain), inputs, beam)
            seconds = time.perf_counter() - started
            for label, model_dir in (("ct2_float32", ct2_dir), ("ct2_int8", SHIPPED_CT2)):
                other = _run(_ct2(model_dir), inputs, beam)
                rate = _rate(reference[beam], other)
                report["torch_vs_ct2"][f"{label}_beam{beam}"] = rate
                progress(f"agreement: torch float32 vs {label}, beam {beam}: {rate} %")
            report[f"torch_seconds_beam{beam}"] = round(seconds, 2)
        plain.close()
        int8_row, int8_reference = _int8(torch_dir, revision, inputs, reference, progress)
        report["torch_int8"] = int8_row
        references = {"float32": reference, "int8": int8_reference}
        for compute, dtype in CACHE_ROWS:
            cache = EncoderCache(ByteLRU(1 << 30), None)
            engine = TorchEngine(
                torch_dir, name="agreement", revision=revision, compute_type=compute,
                encoder_cache=cache, cache_dtype=dtype,
            )  # fmt: skip
            row = _cache_row(engine, cache, inputs, references[compute])
            report["cache"][f"{compute} engine, {dtype} entries"] = row
            progress(f"agreement: {compute} engine, entries in {dtype}, vs cache off: {row}")
            engine.close()
    return report


def _cache_row(
    engine: Any,
    cache: Any,
    inputs: list[tuple[str, ...]],
    reference: dict[int, list[tuple[str, ...]]],
) -> dict[str, Any]:
    """Misses (every source encoded, stored) then hits in other batches, vs cache off."""
    miss = _run(_torch(engine), inputs, 1)
    entries, stored = len(cache.memory), cache.memory.bytes
    hits = {beam: _run(_torch(engine), inputs, beam, reverse=True) for beam in (1, 4)}
    distinct_tokens = sum(len(x) for x in dict.fromkeys(inputs))
    return {
        "miss_greedy": _rate(miss, reference[1]),
        "hit_greedy": _rate(hits[1], reference[1]),
        "hit_beam4": _rate(hits[4], reference[4]),
        "hit_vs_miss_greedy": _rate(hits[1], miss),
        "entries": entries,
        # value bytes (the memory tier also counts each key and its own bookkeeping)
        "bytes_per_token": round(
            (stored - entries * (ENTRY_OVERHEAD + KEY_BYTES)) / distinct_tokens, 1
        ),
    }


def _int8(
    torch_dir: Path,
    revision: str,
    inputs: list[tuple[str, ...]],
    reference: dict[int, list[tuple[str, ...]]],
    progress: Callable[[str], None],
) -> tuple[dict[str, Any], dict[int, list[tuple[str, ...]]]]:
    """Dynamic int8 (``--compute-type int8`` on CPU) against float32 and CTranslate2 int8."""
    from service.engines.torch import TorchEngine

    engine = TorchEngine(torch_dir, name="agreement-int8", revision=revision, compute_type="int8")
    row: dict[str, Any] = {}
    outputs: dict[int, list[tuple[str, ...]]] = {}
    for beam in (1, 4):
        started = time.perf_counter()
        outputs[beam] = int8 = _run(_torch(engine), inputs, beam)
        row[f"seconds_beam{beam}"] = round(time.perf_counter() - started, 2)
        row[f"vs_torch_float32_beam{beam}"] = _rate(int8, reference[beam])
        row[f"vs_ct2_int8_beam{beam}"] = _rate(int8, _run(_ct2(SHIPPED_CT2), inputs, beam))
    engine.close()
    progress(f"agreement: torch int8: {row}")
    return row, outputs


def agreement_markdown(report: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"#### Torch engine agreement (demo held-out set, {report['inputs']} inputs)",
        "",
        "| pair | greedy | beam 4 |",
        "|---|---:|---:|",
    ]
    t = report["torch_vs_ct2"]
    for label in ("ct2_float32", "ct2_int8"):
        lines.append(
            f"| torch float32 vs {label} | {t[f'{label}_beam1']} % | {t[f'{label}_beam4']} % |"
        )
    q = report.get("torch_int8")
    if q:
        for label in ("torch_float32", "ct2_int8"):
            lines.append(
                f"| torch int8 vs {label} | {q[f'vs_{label}_beam1']} % | "
                f"{q[f'vs_{label}_beam4']} % |"
            )
        lines.append(
            f"| seconds for the set: torch float32 / int8 | {report['torch_seconds_beam1']} / "
            f"{q['seconds_beam1']} | {report['torch_seconds_beam4']} / {q['seconds_beam4']} |"
        )
    lines += [
        "",
        "| encoder cache | miss = off (greedy) | hit = off (greedy) | hit = off (beam 4) | "
        "bytes / source token |",
        "|---|---:|---:|---:|---:|",
    ]
    for dtype, row in report["cache"].items():
        lines.append(
            f"| {dtype} | {row['miss_greedy']} % | {row['hit_greedy']} % | {row['hit_beam4']} % | "
            f"{row['bytes_per_token']} |"
        )
    return lines
