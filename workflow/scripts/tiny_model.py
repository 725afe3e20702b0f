"""Train one tiny model from its recipe (rule tiny_model)."""

from pathlib import Path

from teachergrid.core.modeling import set_threads
from teachergrid.support.jobs import start
from teachergrid.tiny.build import build_model

sm = snakemake  # noqa: F821
log = start(sm)
set_threads(sm.threads)
info = build_model(
    sm.wildcards.name,
    sm.params.recipe,
    Path(sm.params.tokenizer),
    Path(sm.output[0]),
    sm.params.seed,
)
log.info(
    "%s: %d parameters, final loss %.4f, %.1fs",
    info["name"],
    info["parameters"],
    info["final_loss"],
    info["train_seconds"],
)
