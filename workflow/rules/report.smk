# Fan-in: CAR for every (base, teacher) and the rankings (screening); then, from the judgements,
# the benchmark scores, metrics.csv and the correlations of every metric with measured
# performance. When a cell fails, the workflow's error handler (onerror.smk) builds the same
# reports over the cells that finished under results/<study>/report/partial/, which no rule writes;
# the next run that completes the cells writes these rules' outputs and removes that folder.


rule screening_report:
    input:
        rewards=expand(L.REWARDS, teacher=TEACHERS, rm=REWARD_MODELS),
        compat=expand(L.COMPATIBILITY, base=BASES, teacher=TEACHERS),
        reference=expand(L.REFERENCE, teacher=TEACHERS),
        responses=expand(L.RESPONSES, teacher=TEACHERS) if ACCURACY else [],
        truth=truth_inputs("screening"),
    output:
        metrics=L.SCREENING,
        rankings=expand(L.RANKINGS, base=BASES),
    log:
        f"{R}/logs/screening_report.log",
    benchmark:
        f"{R}/benchmarks/screening_report.tsv"
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    threads: cores(SMALL_JOB)
    resources:
        **scheduler(SMALL_JOB),
    params:
        cfg=P.screening_report_cfg(),
        # the study's folder, which the report reads the cells' files from
        root=lambda wc: R,
    script:
        "../scripts/screening_report.py"


# `snakemake screening`: the first half of the study only (no fine-tuning).
rule screening:
    input:
        P.screening_outputs(),
    localrule: True


rule report:
    input:
        screening=L.SCREENING,
        judgments=judgment_inputs(),
        answers=answer_inputs(),
        untuned=untuned_inputs(),
        lc_files=lc_file_inputs(),
        truth=truth_inputs("evaluation"),
        scores=[SCORES] if SCORES else [],
        # per-response records: the correlations' bootstrap over instructions reads them
        records=record_inputs(),
    output:
        metrics=L.METRICS,
        extra=P.study_report_extras(),
    log:
        f"{R}/logs/report.log",
    benchmark:
        f"{R}/benchmarks/report.tsv"
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    threads: cores(SMALL_JOB)
    resources:
        **scheduler(SMALL_JOB),
    params:
        cfg=P.study_report_cfg(),
        # the study's folder, which the report reads the cells' files from
        root=lambda wc: R,
    script:
        "../scripts/report.py"
