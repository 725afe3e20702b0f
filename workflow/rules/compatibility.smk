# Base-model loss, PPL and IFD per (base, teacher); the reference model's per teacher.


rule compatibility:
    input:
        responses=f"{R}/responses/{{teacher}}.jsonl",
        model=lambda wc: model_input(BASES[wc.base]),
    output:
        records=f"{R}/compatibility/{{base}}/{{teacher}}.jsonl",
        summary=f"{R}/compatibility/{{base}}/{{teacher}}.json",
    log:
        f"{R}/logs/compatibility/{{base}}/{{teacher}}.log",
    benchmark:
        f"{R}/benchmarks/compatibility/{{base}}/{{teacher}}.tsv"
    conda:
        "../../envs/generation.yaml"
    threads: cores(lambda wc: RESOURCES["bases"][wc.base])
    resources:
        **scheduler(lambda wc: RESOURCES["bases"][wc.base]),
    params:
        entry=lambda wc: BASES[wc.base],
        model=lambda wc: model_dir(BASES[wc.base]),
    script:
        "../scripts/compatibility.py"


rule reference:
    input:
        responses=f"{R}/responses/{{teacher}}.jsonl",
        model=model_input(REFERENCE),
    output:
        records=f"{R}/reference/{{teacher}}.jsonl",
        summary=f"{R}/reference/{{teacher}}.json",
    log:
        f"{R}/logs/reference/{{teacher}}.log",
    benchmark:
        f"{R}/benchmarks/reference/{{teacher}}.tsv"
    conda:
        "../../envs/generation.yaml"
    threads: cores(RESOURCES["reference"])
    resources:
        **scheduler(RESOURCES["reference"]),
    params:
        entry=REFERENCE,
        model=lambda wc: model_dir(REFERENCE),
    script:
        "../scripts/compatibility.py"
