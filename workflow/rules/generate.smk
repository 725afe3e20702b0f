# One generation job per teacher; shards live beside the output and survive a killed job.


rule generate:
    input:
        instructions=f"{R}/instructions/train.jsonl",
        model=lambda wc: model_input(TEACHERS[wc.teacher]),
    output:
        f"{R}/responses/{{teacher}}.jsonl",
    log:
        f"{R}/logs/generate/{{teacher}}.log",
    benchmark:
        f"{R}/benchmarks/generate/{{teacher}}.tsv"
    conda:
        "../../envs/generation.yaml"
    threads: cores(lambda wc: RESOURCES["teachers"][wc.teacher])
    resources:
        **scheduler(lambda wc: RESOURCES["teachers"][wc.teacher]),
    params:
        teacher=lambda wc: TEACHERS[wc.teacher],
        model=lambda wc: model_dir(TEACHERS[wc.teacher]),
        decoding=lambda wc: CFG["decodings"][TEACHERS[wc.teacher]["decoding"]],
        shard_size=CFG["generation"]["shard_size"],
        shard_dir=lambda wc, output: output[0].removesuffix(".jsonl") + ".shards",
    script:
        "../scripts/generate.py"
