"""CAR for every cell; metrics.csv and the per-base rankings (rule screening_report)."""

from itertools import product
from pathlib import Path

from teachergrid import report
from teachergrid.jobs import start
from teachergrid.jsonl import read_json, read_jsonl

sm = snakemake  # noqa: F821
log = start(sm)
cfg = sm.params.cfg
teachers = [t["name"] for t in cfg["teachers"]]
bases = [b["name"] for b in cfg["bases"]]
rms = [rm["name"] for rm in cfg["reward_models"]]
# Inputs come in the order the rule's expand() lists them: outer key first.
rewards = {
    key: [r["reward"] for r in read_jsonl(path)]
    for key, path in zip(product(teachers, rms), sm.input.rewards, strict=True)
}
compat = {
    key: read_json(path)
    for key, path in zip(product(bases, teachers), sm.input.compat, strict=True)
}
reference = {t: read_json(path) for t, path in zip(teachers, sm.input.reference, strict=True)}
table = report.screening_table(cfg, rewards, compat, reference)
report.write_reports(table, cfg, Path(sm.output.metrics), Path(sm.output.rankings[0]).parent)
log.info("wrote %d rows to %s", len(table), sm.output.metrics)
