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
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        source=CFG["instructions"],
    script:
        "../scripts/instructions.py"
