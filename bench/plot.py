"""The benchmark's picture: throughput vs concurrency (ceiling, batched, naive) and latency."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    ceilings = {
        1: report["summary"]["ceiling_greedy_sps"],
        4: report["summary"]["ceiling_beam4_sps"],
    }
    for ax, beam in zip(axes[:2], (1, 4), strict=True):
        for mode, points, style in (
            ("batched", report["service"], "o-"),
            ("naive", report["naive"], "s--"),
        ):
            pts = [p for p in points if p["beam_size"] == beam]
            ax.plot(
                [p["concurrency"] for p in pts],
                [p["sentences_per_s"] for p in pts],
                style,
                label=f"service, {mode}",
            )
        ax.axhline(ceilings[beam], color="black", linestyle=":", label="engine ceiling")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("concurrent clients (C)")
        ax.set_ylabel("sentences / s")
        ax.set_title("greedy" if beam == 1 else f"beam {beam}")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend()
    ax = axes[2]
    for beam, color in ((1, "tab:blue"), (4, "tab:orange")):
        pts = [p for p in report["service"] if p["beam_size"] == beam]
        cs = [p["concurrency"] for p in pts]
        for q, style in (("p50_ms", "-"), ("p95_ms", "--"), ("p99_ms", ":")):
            ax.plot(
                cs,
                [p[q] for p in pts],
                style,
                color=color,
                label=f"{'greedy' if beam == 1 else 'beam 4'} {q[:3]}",
            )
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("concurrent clients (C)")
    ax.set_ylabel("latency (ms)")
    ax.set_title("batched service latency")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    meta = report["meta"]
    fig.suptitle(
        f"bench: {meta['device']} {meta['compute_type']}, "
        f"{meta['machine']['cores']} cores, Marian-base random, 32 output tokens"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
