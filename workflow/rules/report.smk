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


# The report as one HTML page with its figures (PNG and SVG), drawn from the tables above and
# every job's benchmark file; also items of `snakemake --report`.
rule report_page:
    input:
        P.report_tables(),
    output:
        page=report(L.PAGE, caption="../report/page.rst", category="Report"),
        figures=report(
            directory(L.FIGURES),
            patterns=["{name}.png"],
            caption="../report/figures.rst",
            category="Figures",
        ),
    log:
        f"{R}/logs/report_page.log",
    benchmark:
        f"{R}/benchmarks/report_page.tsv"
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    threads: cores(SMALL_JOB)
    resources:
        **scheduler(SMALL_JOB),
    params:
        root=lambda wc: R,
        study=L.study,
        gpus=P.gpu_counts(),
    script:
        "../scripts/report_page.py"
