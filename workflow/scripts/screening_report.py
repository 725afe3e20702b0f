"""CAR for every cell; metrics.csv and the per-base rankings (rule screening_report)."""

from pathlib import Path

from teachergrid import report
from teachergrid.jobs import start
from teachergrid.jsonl import read_json, read_jsonl

sm = snakemake  # noqa: F821
log = start(sm)
cfg = sm.params.cfg
R = sm.params.results
rewards = {
    (t["name"], rm["name"]): [r["reward"] for r in read_jsonl(f"{R}/rewards/{t['name']}/{rm['name']}.jsonl")]
    for t in cfg["teachers"] for rm in cfg["reward_models"]
}
compat = {(b["name"], t["name"]): read_json(f"{R}/compatibility/{b['name']}/{t['name']}.json")
          for b in cfg["bases"] for t in cfg["teachers"]}
reference = {t["name"]: read_json(f"{R}/reference/{t['name']}.json") for t in cfg["teachers"]}
table = report.screening_table(cfg, rewards, compat, reference)
report.write_reports(table, cfg, Path(sm.output.metrics), Path(sm.output.rankings[0]).parent)
log.info("wrote %d rows", len(table))
