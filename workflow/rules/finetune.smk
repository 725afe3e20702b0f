# Supervised fine-tuning of every (base, teacher) cell. Checkpoints live outside the rule's
# output, so Snakemake keeps them when a killed job is rerun and training resumes from them.


rule finetune:
    input:
        responses=f"{R}/responses/{{teacher}}.jsonl",
        model=lambda wc: model_input(BASES[wc.base]),
    output:
        directory(f"{R}/models/{{base}}/{{teacher}}"),
    log:
        f"{R}/logs/finetune/{{base}}/{{teacher}}.log",
    benchmark:
        f"{R}/benchmarks/finetune/{{base}}/{{teacher}}.tsv"
    conda:
        "../../envs/training.yaml"
    threads: cores(RESOURCES["finetune"])
    resources:
        **scheduler(RESOURCES["finetune"]),
    params:
        base=lambda wc: BASES[wc.base],
        model=lambda wc: model_dir(BASES[wc.base]),
        finetune=CFG["finetune"],
        checkpoints=lambda wc: f"{R}/checkpoints/{wc.base}/{wc.teacher}",
    script:
        "../scripts/finetune.py"
