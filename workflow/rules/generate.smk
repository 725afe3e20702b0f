# One generation job per teacher; shards live beside the output and survive a killed job. An
# API teacher's job (generate_api) runs on the submitting host: it needs the network, not a GPU.


rule generate:
    input:
        instructions=f"{R}/instructions/train.jsonl",
        model=lambda wc: model_input(TEACHERS[wc.teacher]),
    output:
        L.RESPONSES,
    log:
        L.LOGS["generate"],
    benchmark:
        f"{R}/benchmarks/generate/{{teacher}}.tsv"
    wildcard_constraints:
        teacher=alternatives(ENGINE_TEACHERS),
    conda:
        "../../envs/generation.yaml"
    threads: cores(lambda wc: RESOURCES["teachers"][wc.teacher])
    resources:
        **scheduler(lambda wc: RESOURCES["teachers"][wc.teacher]),
    params:
        teacher=lambda wc: tracked(TEACHERS[wc.teacher]),
        ops=lambda wc: untracked(
            TEACHERS[wc.teacher], shard_size=CFG["generation"]["shard_size"]
        ),
        model=lambda wc: model_dir(TEACHERS[wc.teacher]),
        decoding=lambda wc: CFG["decodings"][TEACHERS[wc.teacher]["decoding"]],
        shard_dir=lambda wc, output: output[0].removesuffix(".jsonl") + ".shards",
    script:
        "../scripts/generate.py"


use rule generate as generate_api with:
    wildcard_constraints:
        teacher=alternatives(API_TEACHERS),
    localrule: True


# A published teacher's responses, read from its data set (on the host: a hub download).
rule published_responses:
    input:
        instructions=f"{R}/instructions/train.jsonl",
        data=lambda wc: local_data(TEACHERS[wc.teacher]["dataset"]),
    output:
        L.RESPONSES,
    log:
        L.LOGS["generate"],
    benchmark:
        f"{R}/benchmarks/generate/{{teacher}}.tsv"
    wildcard_constraints:
        teacher=alternatives(DATASET_TEACHERS),
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    threads: cores(SMALL_JOB)
    resources:
        **scheduler(SMALL_JOB),
    params:
        dataset=lambda wc: tracked(TEACHERS[wc.teacher]["dataset"], "scores"),
    script:
        "../scripts/published_responses.py"
