# The instruction set: load, deduplicate, sample N with a seed, give stable ids. It runs on the
# submitting host: it needs the network (hub data sets), which cluster compute nodes often lack,
# and little else (Arrow files are memory-mapped).


rule instructions:
    input:
        local_data(CFG["instructions"]),
        preflight=ancient(L.PREFLIGHT),
    output:
        f"{R}/instructions/train.jsonl",
    log:
        f"{R}/logs/instructions.log",
    benchmark:
        f"{R}/benchmarks/instructions.tsv"
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    threads: cores(SMALL_JOB)
    resources:
        **scheduler(SMALL_JOB),
    params:
        source=CFG["instructions"],
    script:
        "../scripts/instructions.py"
