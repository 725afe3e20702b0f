# Supervised fine-tuning of every (base, teacher) cell. Checkpoints live outside the rule's
# output, so Snakemake keeps them when a killed job is rerun and training resumes from them.


rule finetune:
    input:
        responses=L.RESPONSES,
        model=lambda wc: model_input(BASES[wc.base]),
    output:
        directory(L.MODEL),
    log:
        L.LOGS["finetune"],
    benchmark:
        f"{R}/benchmarks/finetune/{{base}}/{{teacher}}.tsv"
    conda:
        "../../envs/training.yaml"
    threads: cores(RESOURCES["finetune"])
    resources:
        **scheduler(RESOURCES["finetune"]),
    params:
        base=lambda wc: tracked(loading(BASES[wc.base])),
        base_ops=lambda wc: untracked(loading(BASES[wc.base])),
        model=lambda wc: model_dir(BASES[wc.base]),
        finetune=tracked(CFG["finetune"], *FINETUNE_UNTRACKED),
        finetune_ops=untracked(CFG["finetune"], *FINETUNE_UNTRACKED),
        checkpoints=lambda wc: f"{R}/checkpoints/{wc.base}/{wc.teacher}",
    script:
        "../scripts/finetune.py"
