"""``make demo-model``: train, hold out, convert and evaluate the shipped demo model.

1. train the T5 from scratch into ``demo_model/checkpoint/`` (Hugging Face layout + serving.json);
2. write ``demo_model/heldout.jsonl``: examples from a different seed whose inputs never occur in
   the training data;
3. convert with the project's converter to CTranslate2 int8 in ``models/t5-demo/``;
4. evaluate the converted model on the held-out set (greedy and beam 4) into
   ``demo_model/quality.json`` and print the table the README quotes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from demo_model import MODEL_NAME
from demo_model.data import heldout_set, training_set, write_jsonl
from demo_model.evaluate import evaluate, markdown
from demo_model.train import TrainConfig, train

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CHECKPOINT = HERE / "checkpoint"
HELDOUT = HERE / "heldout.jsonl"
QUALITY = HERE / "quality.json"
MODEL_DIR = ROOT / "models" / MODEL_NAME
HELDOUT_PER_TASK = 300


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo_model.build", description=__doc__)
    parser.add_argument(
        "--steps", type=int, default=TrainConfig.steps, help="training steps (default: shipped)"
    )
    parser.add_argument(
        "--skip-train", action="store_true", help="reuse demo_model/checkpoint (convert + eval)"
    )
    parser.add_argument("--checkpoint", type=Path, default=CHECKPOINT)
    parser.add_argument("--output", type=Path, default=MODEL_DIR)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    if not args.skip_train:
        if args.checkpoint.exists():
            shutil.rmtree(args.checkpoint)
        print(f"training: {args.steps} steps", flush=True)
        train(TrainConfig(out=args.checkpoint, steps=args.steps, eval_every=500))
    train_size, share = TrainConfig.train_size, TrainConfig.translate_share
    report = args.checkpoint / "training.json"
    if report.is_file():  # the held-out set must exclude exactly what this checkpoint saw
        config = json.loads(report.read_text())["config"]
        train_size = int(config["train_size"])
        share = float(config["translate_share"])

    print(f"held-out: {HELDOUT_PER_TASK} examples per task, disjoint from training", flush=True)
    seen = {e.text for e in training_set(train_size, translate_share=share)}
    write_jsonl(HELDOUT, heldout_set(HELDOUT_PER_TASK, seen))

    from converters import convert

    manifest = convert(args.checkpoint, args.output, quantization="int8", force=True)
    print(f"converted: {args.output} revision {manifest.revision}", flush=True)

    quality = evaluate(args.output, HELDOUT)
    quality["model_revision"] = manifest.revision
    QUALITY.write_text(json.dumps(quality, indent=2, ensure_ascii=False) + "\n")
    print(markdown(quality))
    print(f"done in {time.perf_counter() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
