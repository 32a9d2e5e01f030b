"""Training settings that decide whether the demo model learns in the time we promise."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

from demo_model.modeling import PRESETS, build_model
from demo_model.train import TrainConfig, _lr_at, param_groups


def test_query_projections_learn_at_a_standard_transformers_rate() -> None:
    model = build_model(PRESETS["tiny"], vocab_size=200)
    groups = param_groups(model, TrainConfig(out=Path("unused")))
    by_param = {id(p): g for g in groups for p in g["params"]}
    assert len(by_param) == sum(1 for _ in model.parameters())  # every weight, exactly once
    d_kv = model.config.d_kv
    for name, param in model.named_parameters():
        group = by_param[id(param)]
        expected = d_kv**-0.5 if name.endswith(".q.weight") else 1.0
        assert group["lr_scale"] == pytest.approx(expected), name
        assert group["weight_decay"] == (0.0 if "layer_norm" in name else 0.01), name
    queries = [n for n, _ in model.named_parameters() if n.endswith(".q.weight")]
    layers = model.config.num_layers + 2 * model.config.num_decoder_layers  # + cross-attention
    assert len(queries) == layers


def test_schedule_warms_up_peaks_and_decays_to_a_floor() -> None:
    cfg = TrainConfig(out=Path("unused"), steps=1000, warmup=100, lr=1e-3)
    rates = [_lr_at(step, cfg) for step in range(cfg.steps)]
    assert rates[0] < rates[50] < rates[99] == pytest.approx(1e-3)
    assert all(a >= b for a, b in pairwise(rates[100:]))
    assert rates[-1] == pytest.approx(0.02e-3, rel=0.01)
