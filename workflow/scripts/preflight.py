"""Check every model before any job loads one (rule preflight). Problems are printed to the
console, one line each, as well as to the log; the output lists every check's result."""

import sys

from teachergrid.core.jsonl import atomic_open
from teachergrid.support import preflight
from teachergrid.support.jobs import start

sm = snakemake  # noqa: F821
log = start(sm)
findings = preflight.run(sm.params.cfg["models"], lambda entry: entry["path"], in_job_env=True)
for finding in findings:
    log.info("%s", finding.line())
log.info("%s", preflight.summary(findings))
sys.__stderr__.write(f"teachergrid {preflight.summary(findings)}\n")
problems = preflight.errors(findings)
if problems:
    for finding in problems:
        sys.__stderr__.write(f"teachergrid preflight: {finding.model}: {finding.message}\n")
    raise SystemExit(f"preflight: {len(problems)} model(s) cannot be loaded as configured")
with atomic_open(sm.output[0]) as handle:
    handle.writelines(f.line() + "\n" for f in findings)
