"""Command line.

teachergrid check-config FILE             validate a study config without Snakemake
teachergrid preflight FILE                can every model of the study be loaded as configured?
teachergrid analyze --scores F --out DIR  correlations and paradox summary of a per-cell table
  [--screening SCREENING_CSV]             with a screening.csv: its metrics against F's AP
teachergrid winrates --judgments F --out F  AlpacaEval-2 win rates (raw and length-controlled)
                                          of every model in a judgement table, fitted together
teachergrid worker -- COMMAND...           run a local Snakemake with a warm Python that its
                                          jobs fork from (no 4 s of imports per job)
"""

from __future__ import annotations

import argparse
import sys

from .config import ConfigError, load_config, unpinned
from .lengthcontrol import MODES
from .winrates import DIFFICULTY_L2, LENGTH_L2


def _check_config(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    print(
        f"{args.config}: ok — {len(cfg['teachers'])} teachers x {len(cfg['bases'])} bases, "
        f"{len(cfg['reward_models'])} reward models, CAR with {cfg['car']['reward_model']} "
        f"(beta {cfg['car']['beta']})"
    )
    loose = unpinned(cfg)
    if loose:
        print(f"{len(loose)} hub references have no revision (they read the current main):")
        print("\n".join(f"  {line}" for line in loose))
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

    screening = Path(args.screening) if args.screening else None
    corr, para = analyze(Path(args.scores), Path(args.out), screening)
    print(para.to_string(index=False))
    avg = corr[corr["base"] == "average"][
        ["metric", "spearman_rho", "kendall_tau", "spearman_rho_raw", "paper_spearman_rho"]
    ]
    print(avg.to_string(index=False))
    print(f"wrote {args.out}/correlations.csv and {args.out}/paradox.csv")
    return 0


def _winrates(args: argparse.Namespace) -> int:
    import logging

    from .jsonl import atomic_open
    from .lengthcontrol import OUTPUT_COLUMNS, read_judgments, win_rate_table

    # extreme LC changes are logged as warnings by the fit, one line per model
    logging.basicConfig(level=logging.WARNING, format="teachergrid winrates: %(message)s")
    frame = read_judgments(args.judgments)
    settings = {
        "mode": args.mode,
        "difficulty_l2": args.difficulty_l2,
        "length_l2": args.length_l2,
        "difficulty_file": args.instruction_difficulty,
        "gamed_file": args.gamed_baselines,
    }
    table = win_rate_table(frame, settings)
    with atomic_open(args.out) as handle:
        table[OUTPUT_COLUMNS].to_csv(handle, index=False)
    print(table[OUTPUT_COLUMNS].round(2).to_string(index=False))
    print(f"wrote {args.out} ({args.mode} mode)")
    return 0


def _worker(args: argparse.Namespace) -> int:
    from .worker import run

    command = args.command_line[1:] if args.command_line[:1] == ["--"] else args.command_line
    if not command:
        print("teachergrid worker: give the command to run, e.g. -- snakemake --cores 2",
              file=sys.stderr)  # fmt: skip
        return 2
    return run(command)


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
    analyze.add_argument(
        "--screening",
        help="a screening.csv: its metrics against the scores' AP (joined by base and teacher "
        "name or hub id), Table 4 without fine-tuning",
    )
    analyze.add_argument("--out", required=True, help="output directory")
    analyze.set_defaults(func=_analyze)
    rates = sub.add_parser(
        "winrates", help="AlpacaEval-2 win rates of a judgement table, all models fitted together"
    )
    rates.add_argument(
        "--judgments",
        required=True,
        help="CSV or JSONL: model, prompt_id, preference, len_model, len_reference",
    )
    rates.add_argument("--out", required=True, help="CSV: model, n, win_rate, lc_win_rate")
    rates.add_argument("--mode", choices=list(MODES), default="joint",
                       help="joint: teachergrid's fit (default); paper-comparable: the "
                       "alpaca-eval package's own (needs it and the hub)")  # fmt: skip
    rates.add_argument("--instruction-difficulty", metavar="FILE",
                       help="joint mode: AlpacaEval's published instruction_difficulty.csv "
                       "(prompt_id = the prompt's position in its 805-prompt file)")  # fmt: skip
    rates.add_argument("--gamed-baselines", metavar="FILE",
                       help="joint mode: AlpacaEval's published df_gamed.csv (the reference "
                       "against gamed copies of itself), which holds the length effect in "
                       "check")  # fmt: skip
    rates.add_argument("--difficulty-l2", type=float, default=DIFFICULTY_L2)
    rates.add_argument("--length-l2", type=float, default=LENGTH_L2)
    rates.set_defaults(func=_winrates)
    work = sub.add_parser(
        "worker", help="run a command (a local snakemake) whose jobs fork from a warm Python"
    )
    work.add_argument("command_line", nargs=argparse.REMAINDER, help="-- snakemake ...")
    work.set_defaults(func=_worker)
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
