"""metrics.csv (screening + evaluation per cell), correlations.csv, paradox.csv (rule report)."""

from itertools import product
from pathlib import Path

import pandas as pd

from teachergrid import analysis
from teachergrid.jobs import start
from teachergrid.jsonl import atomic_open, read_json

sm = snakemake  # noqa: F821
log = start(sm)
table = pd.read_csv(sm.input.screening)
if sm.input.scores:
    teachers = [t["name"] for t in sm.params.teachers]
    scores = pd.DataFrame(
        [
            {"base": b, "teacher": t, **read_json(path)}
            for (b, t), path in zip(
                product(sm.params.bases, teachers), sm.input.scores, strict=True
            )
        ]
    )
    keep = ["base", "teacher", *analysis.EVAL_COLUMNS]
    table = table.merge(scores[keep], on=["base", "teacher"], how="left", validate="1:1")
with atomic_open(sm.output.metrics) as handle:
    table.to_csv(handle, index=False)
if sm.input.scores:
    sizes = {t["name"]: t.get("params_b") for t in sm.params.teachers}
    sized = table.assign(params_b=table["teacher"].map(sizes))
    metrics = [*analysis.metric_columns(table), "params_b"]
    corr = analysis.correlations(sized, metrics)
    para = analysis.paradox(sized)
    out = Path(sm.output.metrics).parent
    with atomic_open(out / "correlations.csv") as handle:
        corr.to_csv(handle, index=False)
    with atomic_open(out / "paradox.csv") as handle:
        para.to_csv(handle, index=False)
    log.info("correlations:\n%s", corr[corr["base"] == "average"].to_string(index=False))
    log.info("paradox:\n%s", para.to_string(index=False))
log.info("wrote %s (%d rows)", sm.output.metrics, len(table))
