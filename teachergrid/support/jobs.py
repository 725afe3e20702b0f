"""Shared plumbing for the workflow's thin scripts: logging into the rule's log file."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any


def start(snakemake: Any) -> logging.Logger:
    """Send logging, warnings, progress bars and library prints to the rule's `log:` file.
    Under `teachergrid worker`, the job first moves into the warm worker (and this process
    ends with its status there); see `teachergrid.support.worker`."""
    from teachergrid.support.worker import delegate

    delegate()
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if snakemake.log:
        handle = open(snakemake.log[0], "a", buffering=1, encoding="utf-8")  # noqa: SIM115
        sys.stderr = handle
        sys.stdout = handle  # trainers print their loss records to stdout
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    logging.captureWarnings(True)
    return logging.getLogger(f"teachergrid.{snakemake.rule}")
