# One generation job per teacher; shards live beside the output and survive a killed job.


rule generate:
    input:
        instructions=f"{R}/instructions/train.jsonl",
        model=lambda wc: model_input(TEACHERS[wc.teacher]),
    output:
        f"{R}/responses/{{teacher}}.jsonl",
    params:
        teacher=lambda wc: TEACHERS[wc.teacher],
        model=lambda wc: model_dir(TEACHERS[wc.teacher]),
        decoding=lambda wc: CFG["decodings"][TEACHERS[wc.teacher]["decoding"]],
        shard_size=CFG["generation"]["shard_size"],
        shard_dir=lambda wc: f"{R}/responses/{wc.teacher}.shards",
    log:
        f"{R}/logs/generate/{{teacher}}.log",
    benchmark:
        f"{R}/benchmarks/generate/{{teacher}}.tsv"
    threads: lambda wc: res(TEACHERS[wc.teacher], "threads", 1)
    resources:
        gpu=lambda wc: res(TEACHERS[wc.teacher], "gpu", 0),
        mem_mb=lambda wc: res(TEACHERS[wc.teacher], "mem_mb"),
        runtime=lambda wc: res(TEACHERS[wc.teacher], "runtime"),
    script:
        "../scripts/generate.py"
