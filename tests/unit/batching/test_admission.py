"""Admission arithmetic: request cost, the budget, and the deadline estimate."""

from __future__ import annotations

import pytest

from service.batching.admission import (
    DEADLINE_HEADROOM,
    check_cost,
    check_deadline,
    planned_work,
)
from service.batching.config import BatchingConfig
from service.batching.estimate import WorkRate
from service.errors import DeadlineUnmeetable, InvalidInput
from service.types import ResolvedOptions
from tests.fakes import text

CONFIG = BatchingConfig()


def test_cost_counts_beams_or_samples_and_each_texts_own_limit() -> None:
    beam = ResolvedOptions(beam_size=4, num_hypotheses=2, max_length=128)
    inputs = [text("a"), text("b")]
    assert planned_work(inputs, beam) == [4 * 128 * 3.0] * 2  # n-best costs nothing extra
    sampling = ResolvedOptions(sampling_top_k=10, num_hypotheses=3, max_length=64)
    assert planned_work([text("a")], sampling) == [3 * 64 * 2.0]  # each sample decodes
    from service.engines.base import EngineInput

    own = EngineInput(("a",), max_length=16)  # a relative limit below the options' cap
    assert planned_work([own], ResolvedOptions(max_length=128)) == [16 * 1.25]


def test_the_budget_names_itself_and_what_to_change() -> None:
    heavy = ResolvedOptions(beam_size=8, num_hypotheses=8, max_length=512, min_length=512)
    work = planned_work([text("a")] * 8, heavy)
    with pytest.raises(InvalidInput) as refused:
        check_cost(work, heavy, CONFIG)
    [violation] = refused.value.violations
    assert violation.field == "request"
    assert "max_request_cost" in violation.description and "294912" in violation.description
    check_cost(planned_work([text("a")] * 64, ResolvedOptions(max_length=128)), heavy, CONFIG)


def test_a_deadline_the_estimate_cannot_meet_is_refused_with_a_useful_hint() -> None:
    check_deadline(None, 0.0, 1.0, CONFIG)  # no estimate: admitted
    check_deadline(5.0, 0.0, None, CONFIG)  # no deadline: admitted
    check_deadline(0.5, 0.0, 1.0, CONFIG)
    with pytest.raises(DeadlineUnmeetable) as refused:
        check_deadline(DEADLINE_HEADROOM * 1.0 + 0.01, 0.0, 1.0, CONFIG)
    assert refused.value.retry_after_ms == 810  # when the work ahead now will be done
    with pytest.raises(DeadlineUnmeetable) as late:
        check_deadline(0.05, 0.0, 0.01, CONFIG)
    assert late.value.retry_after_ms == CONFIG.retry_after_ms


def test_the_estimate_is_optimistic_until_loaded_batches_are_measured() -> None:
    rate = WorkRate()
    assert rate.finish_in(1000, 10, slots=2, own_texts=1) is None
    rate.observe(100, 0.1, loaded=False)  # a lone small batch: 1000 work/s at best
    assert rate.finish_in(0, 500, slots=2, own_texts=1) == pytest.approx(0.5)
    assert rate.finish_in(0, 500, slots=2, own_texts=4) == pytest.approx(0.25)
    assert rate.finish_in(10_000, 500, slots=2, own_texts=4) == pytest.approx(0.25)  # no drain
    rate.observe(4000, 1.0, loaded=True)  # under load: 4000 work/s per slot
    assert rate.drain == pytest.approx(4000)
    assert rate.peak == pytest.approx(4000)
    assert rate.finish_in(7500, 500, slots=2, own_texts=4) == pytest.approx(1.0)
    assert rate.remaining(4000, 0.5) == pytest.approx(2000)
    rate.observe(0, 1.0, loaded=True)  # nothing measured from an empty batch
    assert rate.drain == pytest.approx(4000)
