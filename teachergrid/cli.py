"""Command line: `teachergrid check-config FILE` validates a study config without Snakemake."""

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="teachergrid", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check-config", help="validate a study configuration file")
    check.add_argument("config")
    check.set_defaults(func=_check_config)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"teachergrid: configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
