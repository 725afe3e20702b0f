"""Benchmark scores from the judgements; metrics.csv, correlations.csv, paradox.csv (rule
report)."""

from pathlib import Path

from teachergrid.analysis import report
from teachergrid.support.jobs import start

sm = snakemake  # noqa: F821
log = start(sm)
table = report.build_study(sm.params.cfg, Path(sm.params.root))
log.info("wrote %s (%d rows)", sm.output.metrics, len(table))
# an earlier failed run's partial reports are superseded
report.remove_partial(Path(sm.params.root))
