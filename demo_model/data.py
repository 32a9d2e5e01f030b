"""The demo model's text-to-text examples: task mixture, fixed seeds, disjoint held-out set.

Training and held-out data come from the same generators with different seeds; held-out inputs
that also occur in the training data are dropped, so evaluation only sees unseen inputs.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from demo_model import SUMMARIZE_PREFIX, TRANSLATE_PREFIX
from demo_model.grammar_en_de import sample_pair
from demo_model.reports import sample_report

TRAIN_SEED = 20240601
HELDOUT_SEED = 777_001
TASKS = ("translate", "summarize")


@dataclass(frozen=True, slots=True)
class Example:
    task: str
    text: str  # the raw input, without the task prefix
    target: str
    shape: str  # sentence shape or report kind, for per-shape error analysis

    @property
    def source(self) -> str:
        """The model input: task prefix + text (the manifest's input templates say the same)."""
        prefix = TRANSLATE_PREFIX if self.task == "translate" else SUMMARIZE_PREFIX
        return prefix + self.text


def sample_example(rng: random.Random, task: str) -> Example:
    if task == "translate":
        pair = sample_pair(rng)
        return Example("translate", pair.en, pair.de, pair.shape)
    report = sample_report(rng)
    return Example("summarize", report.text, report.headline, report.kind)


def generate(seed: int, n: int, *, translate_share: float = 0.6) -> Iterator[Example]:
    """``n`` examples; the task of each is drawn with ``translate_share``."""
    rng = random.Random(seed)
    for _ in range(n):
        task = "translate" if rng.random() < translate_share else "summarize"
        yield sample_example(rng, task)


def training_set(n: int, *, seed: int = TRAIN_SEED, translate_share: float = 0.6) -> list[Example]:
    return list(generate(seed, n, translate_share=translate_share))


def heldout_set(
    n_per_task: int, exclude: Iterable[str], *, seed: int = HELDOUT_SEED
) -> list[Example]:
    """``n_per_task`` unseen examples per task: inputs in ``exclude`` and repeats are skipped."""
    seen = set(exclude)
    rng = random.Random(seed)
    out: list[Example] = []
    for task in TASKS:
        count = 0
        while count < n_per_task:
            example = sample_example(rng, task)
            if example.text in seen:
                continue
            seen.add(example.text)
            out.append(example)
            count += 1
    return out


def write_jsonl(path: Path, examples: Iterable[Example]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for example in examples:
            fh.write(json.dumps(asdict(example), ensure_ascii=False) + "\n")


def read_jsonl(path: Path) -> list[Example]:
    with path.open(encoding="utf-8") as fh:
        return [Example(**json.loads(line)) for line in fh if line.strip()]
