"""The engine ceiling: raw CTranslate2 ``translate_batch`` in one process, no gRPC, no queue.

Every thread layout and batch size worth trying is measured and the best is the ceiling the
service is held to. Inputs are tokenized before the clock starts: the ceiling is engine time only.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class CeilingPoint:
    inter_threads: int
    intra_threads: int
    batch_size: int
    beam_size: int
    sentences: int
    seconds: float

    @property
    def sps(self) -> float:
        return self.sentences / self.seconds

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "sentences_per_s": round(self.sps, 2)}


def layouts(device: str, cores: int) -> list[tuple[int, int]]:
    """(inter_threads, intra_threads) candidates: replicas x threads per replica = cores."""
    if device == "cuda":
        return [(1, 1), (2, 1)]
    found = {(1, cores), (cores, 1)}
    for inter in (2, 4):
        if inter < cores and cores % inter == 0:
            found.add((inter, cores // inter))
    return sorted(found)


def _translator(model_dir: Path, device: str, compute_type: str, layout: tuple[int, int]) -> Any:
    import ctranslate2

    return ctranslate2.Translator(
        str(model_dir),
        device=device,
        compute_type=compute_type,
        inter_threads=layout[0],
        intra_threads=layout[1],
    )


def forced_length(out_tokens: int) -> dict[str, int]:
    return {"min_decoding_length": out_tokens, "max_decoding_length": out_tokens}


def measure(
    translator: Any,
    inputs: Sequence[list[str]],
    *,
    layout: tuple[int, int],
    batch_size: int,
    beam_size: int,
    out_tokens: int,
) -> CeilingPoint:
    kwargs = {"beam_size": beam_size, "max_batch_size": batch_size, **forced_length(out_tokens)}
    translator.translate_batch(list(inputs[: batch_size * layout[0]]), **kwargs)  # warm
    started = time.perf_counter()
    translator.translate_batch(list(inputs), **kwargs)
    seconds = time.perf_counter() - started
    return CeilingPoint(layout[0], layout[1], batch_size, beam_size, len(inputs), seconds)


def ceiling(
    model_dir: Path,
    inputs: Sequence[list[str]],
    *,
    device: str,
    compute_type: str,
    cores: int,
    batch_sizes: Sequence[int],
    beams: Sequence[int],
    out_tokens: int,
    progress: Progress,
) -> list[CeilingPoint]:
    points: list[CeilingPoint] = []
    for layout in layouts(device, cores):
        translator = _translator(model_dir, device, compute_type, layout)
        for beam in beams:
            n = len(inputs) if beam == 1 else max(64, len(inputs) // 2)
            for batch_size in batch_sizes:
                point = measure(
                    translator,
                    inputs[:n],
                    layout=layout,
                    batch_size=batch_size,
                    beam_size=beam,
                    out_tokens=out_tokens,
                )
                points.append(point)
                progress(
                    f"ceiling: inter={layout[0]} intra={layout[1]} batch={batch_size} "
                    f"beam={beam}: {point.sps:.1f} sentences/s"
                )
        del translator
    return points


def best(points: Sequence[CeilingPoint], beam: int) -> CeilingPoint:
    return max((p for p in points if p.beam_size == beam), key=lambda p: p.sps)


def single_sentence_ms(
    model_dir: Path,
    inputs: Sequence[list[str]],
    *,
    device: str,
    compute_type: str,
    layout: tuple[int, int],
    out_tokens: int,
    repeats: int = 30,
) -> float:
    """Median time of a one-sentence greedy ``translate_batch`` (what a lone request costs)."""
    translator = _translator(model_dir, device, compute_type, layout)
    kwargs = {"beam_size": 1, **forced_length(out_tokens)}
    for tokens in inputs[:3]:
        translator.translate_batch([tokens], **kwargs)
    times = []
    for i in range(repeats):
        started = time.perf_counter()
        translator.translate_batch([inputs[i % len(inputs)]], **kwargs)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)
