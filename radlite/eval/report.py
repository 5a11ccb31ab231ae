"""An evaluation written to a folder: metrics.json, report.md, one TREC run per configuration
(readable by trec_eval, ir_measures and ranx) and the plots."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Mapping

from radlite.eval import harness, plots


def write_trec_run(path: Path, run: Mapping[str, Mapping[str, float]], tag: str) -> Path:
    """Write `run` ({query id: {document id: score}}) in TREC format, best first per query:
    `qid Q0 docid rank score tag`. Returns `path`."""
    with Path(path).open("w", encoding="utf-8") as fh:
        for qid, docs in run.items():
            for rank, (doc, score) in enumerate(sorted(docs.items(), key=lambda kv: -kv[1]), start=1):
                fh.write(f"{qid} Q0 {doc} {rank} {score:.6f} {tag}\n")
    return Path(path)


def run_slug(name: str) -> str:
    """A file-name-safe form of a configuration name: 'fused (seed weights)' -> 'fused_seed_weights'."""
    return re.sub(r"[ +]", "_", name).replace("(", "").replace(")", "")


def write_report(folder: str | Path, results: Mapping[str, harness.ConfigResult], summary: dict[str, Any]) -> Path:
    """Write metrics.json, report.md, run.<config>.trec per configuration and the plots
    (nDCG@10 by category and by query style, latency by stage, the reranker's reliability) into
    `folder` (created if needed). Returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.json").write_text(json.dumps(summary, indent=2))
    (folder / "report.md").write_text(harness.markdown(summary))
    for name, res in results.items():
        slug = run_slug(name)
        write_trec_run(folder / f"run.{slug}.trec", res.run, f"radlite-{slug}")
    plots.by_category(summary, folder / "ndcg_by_category.png")
    plots.by_category(summary, folder / "ndcg_by_style.png", metric_key="by_style")
    plots.latency(summary, folder / "latency_by_stage.png")
    fused = results.get("fused (seed weights)")
    if fused is not None:
        plots.reliability(*fused.calibration, folder / "reranker_reliability.png")
    return folder
