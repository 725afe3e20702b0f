# After a failed run: the reports over the cells that finished, where no rule writes, and one
# line per cell that did not finish, naming the job that stopped it and that job's log.


def partial_reports():
    """The reports an earlier run left are withdrawn (they no longer match the results, and
    would make the next run find nothing to do); the reports over the cells that finished go
    under results/<study>/report/partial/."""
    from teachergrid.analysis import report as fanin

    if not Path(L.PREFLIGHT).exists():
        sys.stderr.write(
            f"teachergrid: the preflight did not pass ({L.LOGS['preflight']}): "
            "no job ran, no report\n"
        )
        return
    reports = dict.fromkeys([*P.report_outputs(), L.FIGURES])
    withdrawn = fanin.withdraw([str(Path(r).relative_to(R)) for r in reports], Path(R))
    if withdrawn:
        sys.stderr.write(
            f"teachergrid: removed {len(withdrawn)} reports of an earlier run from "
            f"{L.REPORT}/: this run changed results they were built from\n"
        )
    try:
        missing = fanin.build_partial(
            P.screening_report_cfg(), P.study_report_cfg(), Path(R), P.gpu_counts()
        )
    except Exception as exc:  # the run has failed already: say why no report, briefly
        sys.stderr.write(
            f"teachergrid: no partial report ({type(exc).__name__}: {exc})\n"
        )
        return
    for (base, teacher), step in missing.items():
        sys.stderr.write(
            f"teachergrid: cell {base}/{teacher} is not in the report: "
            f"{step.rule} did not finish (log: {step.log})\n"
        )
    cells = len(BASES) * len(TEACHERS)
    sys.stderr.write(
        f"teachergrid: partial reports over {cells - len(missing)} of {cells} cells in "
        f"{L.PARTIAL}/ (missing cells: {L.PARTIAL_MISSING}); the same command "
        f"again runs the unfinished jobs, writes the reports to {L.REPORT}/ and "
        "removes the partial ones\n"
    )


onerror:
    # Only the driver builds reports; the one-job Snakemake runs inside cluster jobs do not.
    if workflow.is_main_process and not workflow.dryrun:
        partial_reports()
