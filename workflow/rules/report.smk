# Fan-in: CAR for every (base, teacher) and the rankings (screening); then, with the evaluation
# results, metrics.csv and the correlations of every metric with measured performance.


rule screening_report:
    input:
        rewards=expand(
            f"{R}/rewards/{{teacher}}/{{rm}}.jsonl", teacher=TEACHERS, rm=REWARD_MODELS
        ),
        compat=expand(
            f"{R}/compatibility/{{base}}/{{teacher}}.json",
            base=BASES,
            teacher=TEACHERS,
        ),
        reference=expand(f"{R}/reference/{{teacher}}.json", teacher=TEACHERS),
    output:
        metrics=f"{R}/report/screening.csv",
        rankings=expand(f"{R}/report/screening/{{base}}.md", base=BASES),
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
        cfg={k: CFG[k] for k in ("teachers", "bases", "reward_models", "car")},
    script:
        "../scripts/screening_report.py"


# `snakemake screening`: the first half of the study only (no fine-tuning).
rule screening:
    input:
        screening_outputs(),
    localrule: True


rule report:
    input:
        screening=f"{R}/report/screening.csv",
        scores=(
            expand(f"{R}/eval/{{base}}/{{teacher}}.json", base=BASES, teacher=TEACHERS)
            if EVAL
            else []
        ),
    output:
        metrics=f"{R}/report/metrics.csv",
        extra=(
            [f"{R}/report/correlations.csv", f"{R}/report/paradox.csv"] if EVAL else []
        ),
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
        teachers=CFG["teachers"],
        bases=list(BASES),
    script:
        "../scripts/report.py"
