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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path, required=True, help="a saved index written with checksums")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("load_verify.md"))
    args = ap.parse_args()
    manifest = read_manifest(args.index)
    if "files" not in manifest:
        raise SystemExit(f"{args.index} has no checksums: load and save it once with this radlite")
    total = sum(f["bytes"] for f in manifest["files"].values())
    times: dict[bool, list[float]] = {True: [], False: []}
    SearchIndex.load(args.index, verify=False)  # warm the page cache: both measure hashing, not the disk
    for i in range(args.repeats):
        for verify in (True, False) if i % 2 == 0 else (False, True):
            t = time.perf_counter()
            SearchIndex.load(args.index, verify=verify)
            times[verify].append((time.perf_counter() - t) * 1000)
    on, off = np.median(times[True]), np.median(times[False])
    rate = total / 1e6 / max((on - off) / 1000, 1e-9)  # MB hashed per second
    lines = [
        "# Opening an index with and without checksum verification",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores; Python {platform.python_version()}. "
        f"Command: `python benchmarks/load_verify.py --index {args.index} --repeats {args.repeats}`.",
        f"Index: {args.index.name}, {manifest['counts']['passages']} passages, {len(manifest['files'])} files, "
        f"{total / 1e6:.1f} MB (files in the page cache).",
        "",
        "| load | median ms | min / max ms |",
        "|---|---|---|",
        f"| verify (default) | {on:.0f} | {min(times[True]):.0f} / {max(times[True]):.0f} |",
        f"| --no-verify | {off:.0f} | {min(times[False]):.0f} / {max(times[False]):.0f} |",
        "",
        f"Verification adds {on - off:.0f} ms ({(on - off) / max(off, 1e-9):.1f}x the unverified load), hashing "
        f"{rate:.0f} MB/s; it scales with the index's bytes (ColBERT's token vectors are most of them): a "
        f"1M-passage index (~35 GB, docs/scaling.md) would take about {35e3 / rate:.0f} s at this rate, read from "
        "memory. That is what --no-verify is for, on storage that checks itself.",
    ]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
