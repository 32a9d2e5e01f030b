"""The benchmark's throughput estimate is right for chunked completions, not just smooth ones."""

from bench.load import LoadResult


def test_chunked_completions_give_the_true_rate_wherever_the_window_falls() -> None:
    # 4 callers answered together every 2 s (one batch): the true rate is 2 calls/s. A 5 s
    # window holds 2 or 3 chunks depending on its phase; counting would say 1.6 or 2.4.
    for phase in (0.1, 0.9, 1.9):
        result = LoadResult(concurrency=4, seconds=5.0)
        for caller in range(4):
            times = [phase + 2.0 * k for k in range(3) if phase + 2.0 * k <= 5.0]
            result.completions[caller] = times
            result.statuses["OK"] += len(times)
        rate, method = result.throughput()
        assert method == "per-caller cycles"
        assert abs(rate - 2.0) < 1e-9


def test_callers_that_completed_once_fall_back_to_counting() -> None:
    result = LoadResult(concurrency=3, seconds=10.0)
    result.completions = {0: [1.0], 1: [4.0], 2: [8.0]}
    result.statuses["OK"] = 3
    assert result.throughput() == (0.3, "count over window")
