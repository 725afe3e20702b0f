# Before any other job, on the submitting host: can every model be loaded the way the config
# says (architecture in its backend, remote code, chat template and end of turn, hub access)?
# Jobs that start the study take its output as an ancient() input: it must exist, but its
# time stamp never reruns anything. It is a checkpoint so that Snakemake looks at the DAG
# again once it has run: when it reruns (a teacher was added), Snakemake holds back every job
# downstream of it while it is pending, and only a checkpoint makes it take them up again.
# Snakemake compares a digest of what it checks (`preflight_checks`, which also keeps a dry
# run from hiding the DAG behind a pending preflight).


def preflight_checks():
    """The preflight's tracked param: a digest of what it checks (`Plan.preflight_cfg`), so
    that a dry run prints one short line where the checks changed rather than the whole list.

    In a dry run where the preflight has passed before and its checks changed (a teacher was
    added), the digest it passed with is given instead, and a line says that it will run
    first. Snakemake (9.x) leaves unexamined every job downstream of a pending job whose
    output they take as ancient() and that already exists (`DAG.update_needrun` masks them,
    then skips them), so a pending preflight would hide the whole DAG from the dry run; with
    the old digest the dry run lists the jobs the real run will run after it."""
    import ast
    import hashlib
    import json

    from snakemake.io import IOFile

    text = json.dumps(P.preflight_cfg(), sort_keys=True, default=str)
    digest = f"sha256:{hashlib.sha256(text.encode()).hexdigest()}"
    output = IOFile(L.PREFLIGHT)  # (Snakemake's records are keyed by its file objects)
    if not workflow.dryrun or not Path(output).exists():
        return digest
    recorded = [
        ast.literal_eval(value)
        for value in workflow.persistence.params(output) or []
        if value.startswith("'sha256:")
    ]
    if recorded and digest not in recorded:
        sys.stderr.write(
            "teachergrid: the preflight runs first (its checks changed since it last "
            "passed); the jobs listed follow it\n"
        )
        return recorded[0]
    return digest


checkpoint preflight:
    output:
        L.PREFLIGHT,
    log:
        L.LOGS["preflight"],
    benchmark:
        f"{R}/benchmarks/preflight.tsv"
    localrule: True
    conda:
        "../../envs/generation.yaml"
    threads: cores(SMALL_JOB)
    resources:
        **scheduler(SMALL_JOB),
    params:
        checks=lambda wc: preflight_checks(),
        cfg=Untracked({"models": P.preflight_cfg()}),
    script:
        "../scripts/preflight.py"
