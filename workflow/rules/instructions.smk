# The instruction set: load, deduplicate, sample N with a seed, give stable ids.


rule instructions:
    output:
        f"{R}/instructions/train.jsonl",
    log:
        f"{R}/logs/instructions.log",
    benchmark:
        f"{R}/benchmarks/instructions.tsv"
    conda:
        "../../envs/analysis.yaml"
    threads: cores(SMALL_JOB)
    resources:
        **scheduler(SMALL_JOB),
    params:
        source=CFG["instructions"],
    script:
        "../scripts/instructions.py"
