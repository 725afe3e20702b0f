# The instruction set: load, deduplicate, sample N with a seed, give stable ids.


rule instructions:
    output:
        f"{R}/instructions/train.jsonl",
    params:
        source=CFG["instructions"],
    log:
        f"{R}/logs/instructions.log",
    benchmark:
        f"{R}/benchmarks/instructions.tsv"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    script:
        "../scripts/instructions.py"
