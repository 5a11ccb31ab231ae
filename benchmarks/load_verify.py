"""What checking an index's checksums costs when it is opened: SearchIndex.load with and without
verification, alternating, on the same saved index (and the bytes hashed per second).

    python benchmarks/load_verify.py --index /tmp/ab/medline-index --out benchmarks/load_verify.md
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

from radlite.index import SearchIndex, read_manifest


def measure(index: Path, repeats: int = 7) -> dict:
    """Median and min/max ms of SearchIndex.load with and without verification, and the bytes hashed."""
    manifest = read_manifest(index)
    if "files" not in manifest:
        raise SystemExit(f"{index} has no checksums: load and save it once with this radlite")
    times: dict[bool, list[float]] = {True: [], False: []}
    SearchIndex.load(index, verify=False)  # warm the page cache: both measure hashing, not the disk
    for i in range(repeats):
        for verify in (True, False) if i % 2 == 0 else (False, True):
            t = time.perf_counter()
            SearchIndex.load(index, verify=verify)
            times[verify].append((time.perf_counter() - t) * 1000)
    return {
        "index": index.name,
        "passages": manifest["counts"]["passages"],
        "files": len(manifest["files"]),
        "bytes": sum(f["bytes"] for f in manifest["files"].values()),
        "repeats": repeats,
        "verify_ms": times[True],
        "no_verify_ms": times[False],
        "date": time.strftime("%Y-%m-%d"),
    }


def table(m: dict) -> list[str]:
    """The result as markdown lines (used here and by benchmarks/speed.py, section F)."""
    on, off = np.median(m["verify_ms"]), np.median(m["no_verify_ms"])
    rate = m["bytes"] / 1e6 / max((on - off) / 1000, 1e-9)  # MB hashed per second
    return [
        f"Index: {m['index']}, {m['passages']} passages, {m['files']} files, {m['bytes'] / 1e6:.1f} MB (files in the "
        f"page cache); {m['repeats']} loads each way, alternating ({m['date']}).",
        "",
        "| load | median ms | min / max ms |",
        "|---|---|---|",
        f"| verify (default) | {on:.0f} | {min(m['verify_ms']):.0f} / {max(m['verify_ms']):.0f} |",
        f"| --no-verify | {off:.0f} | {min(m['no_verify_ms']):.0f} / {max(m['no_verify_ms']):.0f} |",
        "",
        f"Verification adds {on - off:.0f} ms ({(on - off) / max(off, 1e-9):.1f}x the unverified load), hashing "
        f"{rate:.0f} MB/s; it scales with the index's bytes (ColBERT's token vectors are most of them): a "
        f"1M-passage index (~35 GB, docs/scaling.md) would take about {35e3 / rate:.0f} s at this rate, read from "
        "memory. That is what --no-verify is for, on storage that checks itself.",
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path, required=True, help="a saved index written with checksums")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("load_verify.md"))
    args = ap.parse_args()
    lines = [
        "# Opening an index with and without checksum verification",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores; Python {platform.python_version()}. "
        f"Command: `python benchmarks/load_verify.py --index {args.index} --repeats {args.repeats}`.",
        *table(measure(args.index, args.repeats)),
    ]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
