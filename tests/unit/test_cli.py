"""The `s2s` command's own wiring: serve flags come from the settings, imports stay one-way."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

from service.batching import BatchingConfig
from service.cli import build_parser
from service.config import Limits, Settings

ROOT = Path(__file__).resolve().parents[2]


def _serve_options() -> dict[str, str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    serve = sub.choices["serve"]  # type: ignore[index]
    return {a.dest: a.help or "" for a in serve._actions if a.option_strings}


def test_every_setting_has_a_serve_flag_with_its_default_and_env_var() -> None:
    options = _serve_options()
    sections = Settings.sections()
    assert {"limits": Limits, "batching": BatchingConfig}.items() <= sections.items()
    for klass in (Settings, *sections.values()):
        for f in dataclasses.fields(klass):  # type: ignore[arg-type]
            if f.name in sections:
                continue
            assert f.name in options, f"no flag for {klass.__name__}.{f.name}"
            assert f"S2S_{f.name.upper()}" in options[f.name]


def test_serve_flags_parse_into_settings(tmp_path: Path) -> None:
    args = build_parser().parse_args(
        ["serve", "--models", str(tmp_path), "--max-num-hypotheses", "3", "--no-early-return"]
    )
    flags = {k: v for k, v in vars(args).items() if k != "command"}
    settings = Settings.build(flags, env={})
    assert settings.models_dir == tmp_path
    assert settings.limits.max_num_hypotheses == 3
    assert settings.batching.early_return is False


def test_serving_path_never_imports_converters_bench_or_torch() -> None:
    code = (
        "import sys, service.cli, service.server, service.pipeline\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('converters', 'bench', 'demo_model', 'torch', 'transformers')]\n"
        "print(bad)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
