"""Benchmark: the tiny world over several values of `tiny_world.seed`, each a whole study from
nothing (models, screening, fine-tuning, evaluation, reports), and the figures the README and
the tests state, per seed and as mean and range over seeds.

    python benchmarks/tiny_seeds.py [--seeds 0 1 2] [--keep DIR] [--cores 2] [--json FILE]

A seed changes every tiny model's initialisation and training data order, the tokenizers'
corpora and every fine-tuning data stream drawn from the world; the instruction sets and the
teachers' knowledge gaps stay as shipped. With --keep, a seed whose reports already exist in
DIR/seed-N is read, not run again (delete the folder to rerun it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO))

from tiny_grid import tree_rss_mb  # noqa: E402

from teachergrid.support.layout import study_root  # noqa: E402
from teachergrid.tiny.figures import figures  # noqa: E402

# the demo's study folder, where each seed's run writes (results/<study>/)
STUDY = study_root(yaml.safe_load((REPO / "configs" / "tiny.yaml").read_text())["study"])


def prepare(workdir: Path, seed: int) -> Path:
    """A project as a clone has it (configs/tiny.yaml and its data) with the world's seed set."""
    shutil.copytree(REPO / "data" / "instructions", workdir / "data" / "instructions")
    cfg = yaml.safe_load((REPO / "configs" / "tiny.yaml").read_text())
    cfg["tiny_world"]["seed"] = seed
    (workdir / "configs").mkdir()
    path = workdir / "configs" / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def run(workdir: Path, configfile: Path, cores: int) -> dict[str, float]:
    """`make demo`'s command in `workdir`; its wall time and peak summed memory."""
    cmd = [
        *(sys.executable, "-m", "teachergrid.cli", "worker", "--"),
        *(sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")),
        *("--directory", str(workdir), "--configfile", str(configfile)),
        *("--cores", str(cores), "--quiet", "rules"),
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    start = time.perf_counter()
    with open(workdir / "snakemake.out", "w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        peak = 0.0

        def sample() -> None:
            nonlocal peak
            while proc.poll() is None:
                peak = max(peak, tree_rss_mb(proc.pid))
                time.sleep(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = proc.wait()
        sampler.join()
    if code:
        raise SystemExit(f"seed run in {workdir} failed (exit {code}): see {workdir}/snakemake.out")
    return {"wall_s": time.perf_counter() - start, "peak_mib": peak}


def collect(seeds: list[int], root: Path, cores: int = 2) -> dict[int, dict[str, Any]]:
    """Each seed's figures (and its run's wall time and peak memory), running the seeds whose
    reports are not yet in root/seed-N."""
    per_seed: dict[int, dict[str, Any]] = {}
    for seed in seeds:
        workdir = root / f"seed-{seed}"
        timing_file = workdir / "timing.json"
        if not (workdir / STUDY / "report/metrics.csv").exists():
            shutil.rmtree(workdir, ignore_errors=True)
            workdir.mkdir(parents=True)
            timing = run(workdir, prepare(workdir, seed), cores)
            timing_file.write_text(json.dumps(timing))
            print(f"seed {seed}: {timing['wall_s']:.0f} s, peak {timing['peak_mib']:.0f} MiB")
        per_seed[seed] = {
            **(json.loads(timing_file.read_text()) if timing_file.exists() else {}),
            **figures(workdir / STUDY / "report"),
        }
    return per_seed


def summary_lines(per_seed: dict[int, dict[str, Any]]) -> list[str]:
    """One line per figure: mean [min, max] over seeds and the per-seed values (numbers), the
    number of seeds where it holds (flags), or the per-seed values (names)."""
    seeds = list(per_seed)
    lines = []
    for key in sorted({k for f in per_seed.values() for k in f}):
        values = [per_seed[s][key] for s in seeds if key in per_seed[s]]
        if all(isinstance(v, bool) for v in values):
            lines.append(f"{key}: {sum(values)} of {len(values)} seeds")
        elif all(isinstance(v, (int, float)) for v in values):
            shown = ", ".join(f"{v:.3g}" for v in values)
            mean = statistics.fmean(values)
            lines.append(f"{key}: {mean:.3g} [{min(values):.3g}, {max(values):.3g}] ({shown})")
        else:
            lines.append(f"{key}: {', '.join(map(str, values))}")
    return lines


def seed_arguments(description: str, json_help: str, prefix: str) -> tuple[Any, Path]:
    """The command line every benchmark over seeds of the tiny world takes, and the folder its
    seeds run in (--keep's, or a temporary one)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--keep", default=None, help="run in DIR/seed-N and keep the runs")
    parser.add_argument("--json", default=None, help=json_help)
    args = parser.parse_args()
    return args, Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix=prefix))


def main() -> int:
    args, root = seed_arguments(
        __doc__, "write every figure per seed to this file", "teachergrid-seeds-"
    )
    per_seed = collect(args.seeds, root, args.cores)
    print(f"tiny world, seeds {args.seeds}: mean [min, max] over seeds (per seed)")
    for line in summary_lines(per_seed):
        print(f"  {line}")
    if args.json:
        Path(args.json).write_text(json.dumps(per_seed, indent=1, sort_keys=True))
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
