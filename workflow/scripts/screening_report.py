"""CAR for every cell; screening.csv and the per-base rankings (rule screening_report)."""

from pathlib import Path

from teachergrid.analysis import report
from teachergrid.support.jobs import start

sm = snakemake  # noqa: F821
log = start(sm)
table = report.build_screening(sm.params.cfg, Path(sm.params.root))
log.info("wrote %d rows to %s", len(table), sm.output.metrics)
# an earlier failed run's partial reports are superseded
report.remove_partial(Path(sm.params.root))
