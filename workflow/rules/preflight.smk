# Before any other job, on the submitting host: can every model be loaded the way the config
# says (architecture in its backend, remote code, chat template and end of turn, hub access)?
# Jobs that start the study take its output as an ancient() input: it must exist, but its
# time stamp never reruns anything. It is a checkpoint so that Snakemake looks at the DAG
# again once it has run: when it reruns (a teacher was added), Snakemake holds back every job
# downstream of it while it is pending, and only a checkpoint makes it take them up again.
# Snakemake compares a digest of what it checks (`preflight_checks`, which also keeps a dry
# run from hiding the DAG behind a pending preflight).


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
        cfg=Untracked({"models": preflight_cfg()}),
    script:
        "../scripts/preflight.py"
