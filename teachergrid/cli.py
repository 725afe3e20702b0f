"""Command line of teachergrid: the workflow's checks and analyses without Snakemake.

examples:
  teachergrid check-config FILE               validate a study config without Snakemake
  teachergrid config-reference                every config key with its default (docs/config.md)
  teachergrid plan FILE [--instructions N]    GPU-hours per stage, estimated before a run
  teachergrid preflight FILE                  can every model of the study load as configured?
  teachergrid analyze --scores F --out DIR    correlations, paradox summary, figures and an
    [--screening SCREENING_CSV]               HTML page of a per-cell table; with a
                                              screening.csv, its metrics against F's AP
  teachergrid screen --base B --out DIR       rank the study's teachers for a new base, on as
    [--config FILE]                           few instructions as it takes; its training set
  teachergrid screen-convergence DIR...       after how many instructions the screens' CAR and
    [--scores CSV] [--truth COLUMN]           reward rankings stop changing, against a truth
                                              (e.g. the paper's Table 6)
  teachergrid winrates --judgments F --out F  AlpacaEval-2 win rates (raw and length-controlled)
                                              of every model in a judgement table, fitted
                                              together
  teachergrid worker -- COMMAND...            run a local Snakemake with a warm Python that its
                                              jobs fork from (no 4 s of imports per job)
"""

from __future__ import annotations

import argparse
import sys

from teachergrid import __version__
from teachergrid.config import ConfigError, load_config, unpinned
from teachergrid.evaluation.lengthcontrol import MODES
from teachergrid.evaluation.winrates import DIFFICULTY_L2, LENGTH_L2


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
    from teachergrid.support.layout import Layout
    from teachergrid.support.preflight import errors, run, summary

    cfg = load_config(args.config)
    findings = run(cfg, Layout(cfg["study"]).model_dir)
    for finding in findings:
        stream = sys.stderr if finding.level == "error" else sys.stdout
        print(finding.line(), file=stream)
    print(summary(findings))
    problems = errors(findings)
    if problems:
        print(f"{args.config}: {len(problems)} model(s) cannot be loaded as configured",
              file=sys.stderr)  # fmt: skip
        return 1
    return 0


def _analyze(args: argparse.Namespace) -> int:
    from pathlib import Path

    from teachergrid.analysis.published_scores import analyze

    screening = Path(args.screening) if args.screening else None
    corr, para = analyze(Path(args.scores), Path(args.out), screening)
    print(para.to_string(index=False))
    avg = corr[corr["base"] == "average"][
        ["metric", "spearman_rho", "kendall_tau", "spearman_rho_raw", "paper_spearman_rho"]
    ]
    print(avg.to_string(index=False))
    from teachergrid.analysis.figures import Inputs
    from teachergrid.analysis.page import render

    out = Path(args.out)
    page, figures = render(
        Inputs.from_folder(out, metrics="scores.csv"), out, f"teachergrid analyze: {args.scores}"
    )
    print(f"wrote {out}/correlations.csv, {out}/paradox.csv, {len(figures)} figures under "
          f"{out}/figures/ (PNG and SVG) and {page}")  # fmt: skip
    return 0


def _screen(args: argparse.Namespace) -> int:
    from pathlib import Path

    from teachergrid.analysis.screen_report import base_entry, read_study, write
    from teachergrid.screening.screen import base_scorer, run

    cfg = load_config(args.config)
    try:
        teachers, settings = read_study(cfg)
    except FileNotFoundError as exc:
        print(f"teachergrid screen: {exc}", file=sys.stderr)
        return 2
    settings.first_round = args.first_round
    settings.max_instructions = args.max_instructions
    settings.max_gpu_hours = args.max_gpu_hours
    settings.confidence = args.confidence
    settings.seed = args.seed
    given = {k: v for k, v in (("chat_template", args.chat_template), ("dtype", args.dtype)) if v}
    entry = base_entry(cfg, args.base, args.name or Path(args.base).name, **given)
    score = base_scorer(entry["model"], entry, threads=args.threads)

    def progress(line: str) -> None:
        print(f"teachergrid screen: {line}", file=sys.stderr)

    result = run(teachers, score, settings, entry["metrics"], progress=progress)
    info = write(Path(args.out), result, teachers, settings.beta, settings, entry)
    print(f"{info['base']}: {info['best_teacher']} first (P(first) {info['p_first']:.2f}) after "
          f"{info['instructions_scored']} of {info['instructions_available']} instructions, "
          f"stopped: {info['stopped_by']}; {info['seconds']} s on {info['device']}; "
          f"wrote {args.out}/ranking.csv, mix.jsonl, best.jsonl")  # fmt: skip
    return 0


def _screen_convergence(args: argparse.Namespace) -> int:
    from pathlib import Path

    from teachergrid.analysis.screen_report import convergence_report

    try:
        table = convergence_report(
            [Path(d) for d in args.screens], Path(args.scores) if args.scores else None,
            args.truth, args.first,
        )  # fmt: skip
    except (FileNotFoundError, ValueError) as exc:
        print(f"teachergrid screen-convergence: {exc}", file=sys.stderr)
        return 2
    print(table.to_string(index=False))
    if args.out:
        table.to_csv(args.out, index=False)
    return 0


def _winrates(args: argparse.Namespace) -> int:
    import logging

    import pandas as pd

    from teachergrid.core.jsonl import atomic_open
    from teachergrid.evaluation.lengthcontrol import (
        INTERVAL_COLUMNS,
        OUTPUT_COLUMNS,
        bootstrap_intervals,
        read_judgments,
        win_rate_table,
    )

    # extreme LC changes are logged as warnings by the fit, one line per model
    logging.basicConfig(level=logging.WARNING, format="teachergrid winrates: %(message)s")
    frame = pd.concat([read_judgments(path) for path in args.judgments], ignore_index=True)
    settings = {
        "mode": args.mode,
        "difficulty_l2": args.difficulty_l2,
        "length_l2": args.length_l2,
        "difficulty_file": args.instruction_difficulty,
        "gamed_file": args.gamed_baselines,
    }
    table = win_rate_table(frame, settings)
    # the package's own fit (paper-comparable) gives no intervals unless asked: each round
    # would be a fit of the package per model
    rounds = args.bootstrap if args.bootstrap is not None else 100 * (args.mode == "joint")
    intervals = bootstrap_intervals(frame, settings, rounds, args.seed)
    table = table.merge(intervals, on="model", how="left", validate="1:1")
    columns = [*OUTPUT_COLUMNS, *INTERVAL_COLUMNS]
    with atomic_open(args.out) as handle:
        table[columns].to_csv(handle, index=False)
    print(table[columns].round(2).to_string(index=False))
    intervals_note = f"; 95% intervals from {rounds} rounds" if rounds else ""
    print(f"wrote {args.out} ({args.mode} mode{intervals_note})")
    return 0


def _plan(args: argparse.Namespace) -> int:
    from teachergrid.support.costs import MEASURED, Throughputs, estimate, table
    from teachergrid.support.plan import Plan

    try:
        plan = Plan(load_config(args.config))
    except ConfigError as exc:
        print(f"teachergrid: configuration error: {exc}", file=sys.stderr)
        return 2
    inst = plan.cfg["instructions"]
    count = args.instructions or inst["sample"]
    if count is None and inst["local"]:
        from pathlib import Path

        from teachergrid.config import check_instruction_file

        count = check_instruction_file(Path(inst["source"]), inst["column"])
    if count is None:
        print(f"teachergrid plan: {args.config}: the instructions are a hub data set read whole; "
              "give their number with --instructions", file=sys.stderr)  # fmt: skip
        return 2
    measured = Throughputs.read(args.throughputs or MEASURED)
    try:
        stages = estimate(plan, int(count), measured)
    except ValueError as exc:
        print(f"teachergrid plan: {args.config}: {exc}", file=sys.stderr)
        return 2
    print(f"{args.config}: {count:,} instructions per teacher")
    print(table(stages, measured), end="")
    return 0


def _config_reference(args: argparse.Namespace) -> int:
    from teachergrid.config.reference import markdown

    sys.stdout.write(markdown())
    return 0


def _worker(args: argparse.Namespace) -> int:
    from teachergrid.support.worker import run

    command = args.command_line[1:] if args.command_line[:1] == ["--"] else args.command_line
    if not command:
        print("teachergrid worker: give the command to run, e.g. -- snakemake --cores 2",
              file=sys.stderr)  # fmt: skip
        return 2
    return run(command)


class _Help(argparse.RawDescriptionHelpFormatter):
    """Descriptions as written (the command table keeps its columns); an option's default shown
    where it has one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and "%(default)" not in text:
            text += " (default: %(default)s)"
        return text


def build_parser() -> argparse.ArgumentParser:
    """The command line's parser: every command, its arguments and their help."""
    summary, _, commands = __doc__.partition("\n\n")
    parser = argparse.ArgumentParser(
        prog="teachergrid", description=summary, epilog=commands, formatter_class=_Help
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=text, description=text, formatter_class=_Help)

    check = command("check-config", "validate a study configuration file")
    check.add_argument("config", help="the study's YAML config (config.yaml, configs/tiny.yaml)")
    check.set_defaults(func=_check_config)
    cost = command("plan", "GPU-hours per stage of a study, before it runs (an estimate)")
    cost.add_argument("config", help="the study's YAML config")
    cost.add_argument("--instructions", type=int, help="instructions per teacher (hub data)")
    cost.add_argument(
        "--throughputs", help="a benchmarks/gpu_check.py result (default: the H200's in the repo)"
    )
    cost.set_defaults(func=_plan)
    ref = command("config-reference", "print every config key, its default and its meaning")
    ref.set_defaults(func=_config_reference)
    pre = command("preflight", "check that every model loads as configured")
    pre.add_argument("config", help="the study's YAML config")
    pre.set_defaults(func=_preflight)
    analyze = command(
        "analyze", "Table-4-style analysis of a per-cell score table, with figures and a page"
    )
    analyze.add_argument("--scores", required=True, help="CSV: base, teacher, params_b, ...")
    analyze.add_argument(
        "--screening",
        help="a screening.csv: its metrics against the scores' AP (joined by base and teacher "
        "name or hub id), Table 4 without fine-tuning",
    )
    analyze.add_argument("--out", required=True, help="output directory")
    analyze.set_defaults(func=_analyze)
    screen = command(
        "screen", "rank a study's teachers for a new base on as few instructions as it takes"
    )
    screen.add_argument("--base", required=True, help="the base: a hub id or a local folder")
    screen.add_argument("--out", required=True, help="output directory")
    screen.add_argument("--config", default="config.yaml", help="the study (default config.yaml)")
    screen.add_argument(
        "--name", help="the base's name in the outputs (default: --base's last part)"
    )
    screen.add_argument("--first-round", type=int, default=64, help="instructions in round 1")
    screen.add_argument("--max-instructions", type=int, help="stop after this many instructions")
    screen.add_argument("--max-gpu-hours", type=float, help="stop after this much GPU time")
    screen.add_argument("--confidence", type=float, default=0.9,
                        help="the leader's bootstrap P(first) that settles it")  # fmt: skip
    screen.add_argument("--seed", type=int, default=0, help="the instructions' order")
    screen.add_argument("--chat-template", help="as a base's chat_template key")
    screen.add_argument("--dtype", help="as a base's dtype key")
    screen.add_argument("--threads", type=int, help="CPU threads (default: torch's)")
    screen.set_defaults(func=_screen)
    conv = command(
        "screen-convergence",
        "after how many instructions a screen's rankings stop changing, against a truth",
    )
    conv.add_argument("screens", nargs="+", metavar="DIR", help="`teachergrid screen` outputs")
    conv.add_argument(
        "--scores",
        help="per-cell truth, CSV with base and teacher (e.g. data/paper/table6.csv); a "
        "screen's base is matched by its --name",
    )
    conv.add_argument(
        "--truth",
        default="ap",
        help="the truth's column, higher is better (default ap: from alpaca_eval_lc and "
        "arena_hard_wr where no such column)",
    )
    conv.add_argument("--first", type=int, default=16, help="the smallest prefix (then doubling)")
    conv.add_argument("--out", help="write the summary table to this CSV")
    conv.set_defaults(func=_screen_convergence)
    rates = command(
        "winrates", "AlpacaEval-2 win rates of a judgement table, all models fitted together"
    )
    rates.add_argument(
        "--judgments",
        required=True,
        nargs="+",
        metavar="FILE",
        help="CSV or JSONL (model, prompt_id, preference, len_model, len_reference), or "
        "AlpacaEval's own annotations.json; several files are fitted together",
    )
    rates.add_argument(
        "--out",
        required=True,
        help="CSV: model, n, win_rate, lc_win_rate and their 95%% intervals over prompts",
    )
    rates.add_argument("--bootstrap", type=int, default=None, metavar="N",
                       help="rounds of the bootstrap over prompts behind the intervals, each "
                       "a whole fit (default: 100 in joint mode, 0 in paper-comparable mode; "
                       "0: no intervals)")  # fmt: skip
    rates.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
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
    rates.add_argument("--difficulty-l2", type=float, default=DIFFICULTY_L2,
                       help="joint mode: L2 penalty pooling the instructions' difficulty "
                       "terms")  # fmt: skip
    rates.add_argument("--length-l2", type=float, default=LENGTH_L2,
                       help="joint mode: L2 penalty pooling each model's length slope toward "
                       "the shared one")  # fmt: skip
    rates.set_defaults(func=_winrates)
    work = command("worker", "run a command (a local snakemake) whose jobs fork from a warm Python")
    work.add_argument("command_line", nargs=argparse.REMAINDER, help="-- snakemake ...")
    work.set_defaults(func=_worker)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
