"""One report against another as a PNG (matplotlib, optional: ImportError without it)."""

from __future__ import annotations

from typing import List, Optional, Tuple

from .model import Report, Result


def matched(old: Report, new: Report) -> List[Tuple[Result, Result]]:
    """Pairs of results measured in both reports (same backend, device, workload)."""
    o = old.by_key()
    pairs = []
    for r in new.results:
        b = o.get(r.key)
        if b is not None and r.throughput and b.throughput:
            pairs.append((b, r))
    return pairs


def plot_comparison(old: Report, new: Report, png: str, title: Optional[str] = None) -> int:
    """Writes a horizontal bar chart of new/old throughput per workload to `png` (ratio > 1:
    faster; red bars: slower by more than 5 %; a log axis when ratios span more than 10x).
    Returns the number of workloads drawn."""
    import matplotlib  # type: ignore
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # type: ignore

    pairs = matched(old, new)
    if not pairs:
        raise ValueError(f"{old.origin} and {new.origin} have no measured workload in common")
    labels = [f"{n.backend}:{n.device} {n.label}" for _, n in pairs]
    ratios = [n.throughput / o.throughput for o, n in pairs]
    colors = ["#cf222e" if x < 0.95 else "#1a7f37" if x > 1.05 else "#57606a" for x in ratios]
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.28 * len(pairs)))
    y = list(range(len(pairs)))
    ax.barh(y, [x - 1 for x in ratios], left=1, color=colors)  # bars from 1 (no change)
    if min(ratios) < 0.1 or max(ratios) > 10:  # changes over orders of magnitude: log axis
        ax.set_xscale("log")
    ax.axvline(1.0, color="#000", linewidth=0.8)
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("new / old throughput (median time; > 1 is faster)")
    for yi, x, (o, n) in zip(y, ratios, pairs):
        ax.text(x, yi, f" {x:.3g} ", va="center", ha="right" if x < 1 else "left", fontsize=7)
    ax.set_title(title or f"{new.hostname} {new.suite} ({new.origin}) vs "
                          f"{old.hostname} {old.suite} ({old.origin})", fontsize=9)
    ax.grid(axis="x", color="#ddd")
    ax.set_axisbelow(True)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return len(pairs)
