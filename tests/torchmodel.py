"""The demo checkpoint converted for the torch engine (``s2s convert --engine torch``), once per
test session, into a registry of its own; shared by the engine, converter and server tests."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO_CHECKPOINT = ROOT / "demo_model" / "checkpoint"
TORCH_MODEL = "t5-demo-torch"


def convert_demo(registry: Path, *, engine: str, quantization: str, name: str) -> Path:
    """Convert the demo checkpoint into ``registry/name`` with the project's converter."""
    from converters import convert

    model_dir = registry / name
    convert(DEMO_CHECKPOINT, model_dir, quantization=quantization, name=name, engine=engine)
    return model_dir
