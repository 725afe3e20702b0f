"""Command line.

teachergrid check-config FILE             validate a study config without Snakemake
teachergrid preflight FILE                can every model of the study be loaded as configured?
teachergrid analyze --scores F --out DIR  correlations and paradox summary of a per-cell table
"""

from __future__ import annotations

import argparse
import sys

from .config import ConfigError, load_config


def _check_config(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    print(
        f"{args.config}: ok — {len(cfg['teachers'])} teachers x {len(cfg['bases'])} bases, "
        f"{len(cfg['reward_models'])} reward models, CAR with {cfg['car']['reward_model']} "
        f"(beta {cfg['car']['beta']})"
    )
    return 0


def _preflight(args: argparse.Namespace) -> int:
    from .layout import model_dir
    from .preflight import errors, run

    findings = run(load_config(args.config), model_dir)
    for finding in findings:
        stream = sys.stderr if finding.level == "error" else sys.stdout
        print(finding.line(), file=stream)
    problems = errors(findings)
    if problems:
        print(f"{args.config}: {len(problems)} model(s) cannot be loaded as configured",
              file=sys.stderr)  # fmt: skip
        return 1
    return 0


def _analyze(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .analysis import analyze

    corr, para = analyze(Path(args.scores), Path(args.out))
    print(para.to_string(index=False))
    avg = corr[corr["base"] == "average"][["metric", "spearman_rho", "kendall_tau"]]
    print(avg.to_string(index=False))
    print(f"wrote {args.out}/correlations.csv and {args.out}/paradox.csv")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="teachergrid", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check-config", help="validate a study configuration file")
    check.add_argument("config")
    check.set_defaults(func=_check_config)
    pre = sub.add_parser("preflight", help="check that every model loads as configured")
    pre.add_argument("config")
    pre.set_defaults(func=_preflight)
    analyze = sub.add_parser("analyze", help="Table-4-style analysis of a per-cell score table")
    analyze.add_argument("--scores", required=True, help="CSV: base, teacher, params_b, ...")
    analyze.add_argument("--out", required=True, help="output directory")
    analyze.set_defaults(func=_analyze)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"teachergrid: configuration error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError) as exc:
        print(f"teachergrid: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
