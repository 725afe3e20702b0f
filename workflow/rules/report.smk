# Fan-in: CAR for every (base, teacher), metrics.csv and one CAR ranking per base.


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
        metrics=f"{R}/report/metrics.csv",
        rankings=expand(f"{R}/report/screening/{{base}}.md", base=BASES),
    log:
        f"{R}/logs/screening_report.log",
    benchmark:
        f"{R}/benchmarks/screening_report.tsv"
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        cfg={k: CFG[k] for k in ("teachers", "bases", "reward_models", "car")},
    script:
        "../scripts/screening_report.py"
