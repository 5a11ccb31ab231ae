"""PNG figures for evaluation reports (matplotlib, headless, imported only when used)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def by_category(summary: dict[str, Any], path: Path, metric_key: str = "by_category") -> Path | None:
    """Grouped bars: nDCG@10 per category (x) for each configuration, with 95% intervals."""
    cfgs = summary["configurations"]
    groups = sorted({g for e in cfgs.values() for g in e[metric_key]})
    if not groups:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(groups) + 2), 4))
    width = 0.8 / len(cfgs)
    x = np.arange(len(groups))
    for i, (name, e) in enumerate(cfgs.items()):
        vals = [e[metric_key].get(g, (np.nan, np.nan, np.nan, 0)) for g in groups]
        mean = np.array([v[0] for v in vals])
        err = np.array([[v[0] - v[1] for v in vals], [v[2] - v[0] for v in vals]])
        ax.bar(x + i * width - 0.4 + width / 2, mean, width, yerr=err, capsize=2, label=name)
    ax.set_xticks(x, groups, rotation=30, ha="right")
    ax.set_ylabel("nDCG@10")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"{summary['dataset']} ({summary['split']}): nDCG@10 by {metric_key.split('_')[1]}")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def latency(summary: dict[str, Any], path: Path) -> Path:
    """p50 time per pipeline stage of the fused configuration, with p95 as error bars."""
    cfgs = summary["configurations"]
    name = next((n for n in cfgs if n.startswith("fused")), next(iter(cfgs)))
    stages = {s: v for s, v in cfgs[name]["stage_ms"].items() if s != "total"}
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    p50 = [v["p50"] for v in stages.values()]
    p95 = [v["p95"] for v in stages.values()]
    ax.barh(list(stages), p50, xerr=[np.zeros(len(p50)), np.subtract(p95, p50)], capsize=3)
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xlabel("ms per query (bar p50, whisker p95)")
    ax.set_title(f"latency per stage: {name}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def reliability(probabilities: Sequence[float], labels: Sequence[int], path: Path, bins: int = 10) -> Path | None:
    """Reliability diagram: mean calibrated cross-encoder score vs share relevant, per bin."""
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if len(p) == 0:
        return None
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges) - 1, 0, bins - 1)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    xs, ys, ns = [], [], []
    for b in range(bins):
        m = which == b
        if m.any():
            xs.append(p[m].mean()), ys.append(y[m].mean()), ns.append(int(m.sum()))
    ax.plot(xs, ys, "o-", label="cross-encoder, sigmoid(logit / T)")
    for x_, y_, n in zip(xs, ys, ns):
        ax.annotate(str(n), (x_, y_), fontsize=6, textcoords="offset points", xytext=(3, 3))
    ece = sum(n * abs(a - b) for a, b, n in zip(xs, ys, ns)) / len(p)
    ax.set_xlabel("calibrated score")
    ax.set_ylabel("share judged relevant")
    ax.set_title(f"reliability (ECE {ece:.3f})")
    ax.set_xlim(0, 1), ax.set_ylim(0, 1)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
