"""The study's figures (PNG and SVG) and its HTML page (rule report_page)."""

from functools import partial
from pathlib import Path

from teachergrid.analysis.figures import Inputs
from teachergrid.analysis.page import render
from teachergrid.analysis.plots_study import read_costs
from teachergrid.support.jobs import start
from teachergrid.support.plan import job_gpus

sm = snakemake  # noqa: F821
log = start(sm)
root = Path(sm.params.root)
costs = read_costs(root / "benchmarks", partial(job_gpus, sm.params.gpus))
inputs = Inputs.from_folder(Path(sm.output.page).parent, costs=costs)
page, figures = render(inputs, Path(sm.output.page).parent, f"teachergrid: {sm.params.study}")
log.info("wrote %s with %d figures: %s", page, len(figures), ", ".join(f.name for f in figures))
