"""Your own PyTorch Transformer, from nothing to served: build, train, convert, serve, call.

    python examples/own-transformer/run.py            # about 3 minutes of training on a CPU
    python examples/own-transformer/run.py --tiny     # seconds (what the test suite runs)

The model (``model.py``) is a plain torch.nn.Transformer that learns to reverse digit strings
(``reverse.py``). The script writes ``model.json`` describing it, saves the state dict, runs
``s2s convert --family pytorch-transformer`` (which verifies the CTranslate2 model against
``model.build`` token for token), starts ``s2s serve`` on the result and translates held-out
digit strings through gRPC. Everything lands in ``--out`` (default ``build/`` here);
``result.json`` records what happened.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(HERE), str(ROOT)]

import model  # noqa: E402
import reverse  # noqa: E402
import torch  # noqa: E402

SOURCE, TARGET = "zxx", "zxx-x-reversed"  # "no linguistic content", privately: reversed
NAME = "digits-reverser"


def model_json(tiny: bool, out: Path) -> dict[str, object]:
    size = (
        {"d_model": 32, "heads": 2, "encoder_layers": 1, "decoder_layers": 1, "ffn_dim": 64}
        if tiny
        else {"d_model": 128, "heads": 4, "encoder_layers": 3, "decoder_layers": 3, "ffn_dim": 512}
    )
    return {
        "layout": "torch-transformer", "vocab_size": len(reverse.VOCAB), **size,
        "norm": "post", "final_norm": True, "activation": "relu", "positions": "sinusoidal",
        "sinusoidal_layout": "interleaved", "max_positions": 64, "scale_embeddings": True,
        "shared_embeddings": True, "tied_output": True, "pad_id": reverse.PAD,
        "bos_id": reverse.BOS, "eos_id": reverse.EOS, "unk_id": reverse.UNK,
        "source_suffix": ["</s>"], "tokenizer": "tokenizer.json",
        "module": "model:build", "module_path": os.path.relpath(HERE, out),
    }  # fmt: skip


def step(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "build")
    parser.add_argument("--tiny", action="store_true", help="a toy-sized run for tests")
    parser.add_argument("--minutes", type=float, default=3.0, help="training time budget")
    parser.add_argument(
        "--threads", type=int, help="torch threads (default 1 with --tiny, else up to 4)"
    )
    args = parser.parse_args()
    # Small models train fastest on few threads; on a busy machine extra threads only spin.
    torch.set_num_threads(args.threads or (1 if args.tiny else max(1, min(4, os.cpu_count() or 1))))
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)

    # 1. Build and train (your code: model.py, reverse.py).
    from converters.own.config import OwnTransformerConfig

    spec = model_json(args.tiny, out)
    (out / "model.json").write_text(json.dumps(spec, indent=2) + "\n")
    config = OwnTransformerConfig.from_dict(spec)
    max_digits = 8 if args.tiny else 20
    steps, seconds = (300, None) if args.tiny else (100_000, args.minutes * 60)
    step(f"training a {config.d_model}-wide Transformer to reverse up to {max_digits} digits")
    module = reverse.train(model.build(config), steps=steps, max_digits=max_digits,
                           seconds=seconds, log=step)  # fmt: skip
    torch.save(module.state_dict(), out / "model.pt")
    reverse.save_tokenizer(out / "tokenizer.json")
    verify_samples = out / "verify.txt"
    verify_samples.write_text("\n".join(reverse.samples(60, max_digits, seed=1)) + "\n")

    # 2. Convert, verifying against model.build token for token.
    registry = out / "registry"
    convert = [
        sys.executable, "-m", "service", "convert", str(out / "model.pt"), str(registry / NAME),
        "--family", "pytorch-transformer", "--config", str(out / "model.json"), "--name", NAME,
        "--task", "translation", "--source-language", SOURCE, "--target-language", TARGET,
        "--verify-samples", str(verify_samples), "--force",
    ]  # fmt: skip
    step("converting: " + " ".join(convert[2:]))
    if subprocess.run(convert, cwd=ROOT).returncode != 0:
        return 1

    # 3. Serve it and call it.
    from service.client import Seq2SeqClient
    from tests.serverproc import running_server

    held_out = reverse.samples(20, max_digits, seed=2)
    with running_server(out / "server", models=registry, log_level="info") as server:
        step(f"serving on {server.target}; translating {len(held_out)} held-out strings")
        with Seq2SeqClient(server.target, timeout=60) as client:
            replies = [client.translate([t], SOURCE, TARGET).results[0].text for t in held_out]
    for text, reply in list(zip(held_out, replies, strict=True))[:5]:
        print(f"  {text} -> {reply}")
    exact = sum(r == t[::-1] for t, r in zip(held_out, replies, strict=True))
    step(f"{exact} of {len(held_out)} reversed exactly")
    manifest = json.loads((registry / NAME / "manifest.json").read_text())
    result = {
        "inputs": held_out,
        "replies": replies,
        "exact": exact,
        "verification": manifest["verification"],
        "model_dir": str(registry / NAME),
    }
    (out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
