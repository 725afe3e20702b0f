"""Benchmark: run the tiny grid from nothing in a fresh directory and report wall time and peak
memory (the summed resident memory of snakemake and every job it runs, sampled every 0.2 s).

    python benchmarks/tiny_grid.py [--cores 2] [--target all] [--keep DIR] [--no-worker]

As `make demo` runs it: under `teachergrid worker` (jobs fork from a warm Python), unless
--no-worker (every job starts its own interpreter).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def tree_rss_mb(root: int) -> float:
    """Summed RSS of a process and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            ppid, pages = int(fields[1]), int(fields[21])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
        rss[int(entry)] = pages
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--configfile", default=str(REPO / "configs" / "tiny.yaml"))
    parser.add_argument(
        "--target", default=None, help="a rule or file, e.g. screening (default: all)"
    )
    parser.add_argument("--keep", default=None, help="run in this directory and keep it")
    parser.add_argument("--no-worker", action="store_true", help="one interpreter per job")
    args = parser.parse_args()
    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="teachergrid-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        *([args.target] if args.target else []),
        "-s",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        args.configfile,
        "--cores",
        str(args.cores),
        "--quiet",
        "rules",
    ]
    if not args.no_worker:
        cmd = [sys.executable, "-m", "teachergrid.cli", "worker", "--", *cmd]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env)
    peak = 0.0

    def sample() -> None:
        nonlocal peak
        while proc.poll() is None:
            peak = max(peak, tree_rss_mb(proc.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = proc.wait()
    wall = time.perf_counter() - start
    sampler.join()
    print(
        f"tiny grid: exit {code}, wall {wall:.1f} s, peak memory {peak:.0f} MiB "
        f"(cores {args.cores}, {'no worker' if args.no_worker else 'worker'}, workdir {workdir})"
    )
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
