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
    threads: lambda wc: res(BASES[wc.base], "threads", 1)
    resources:
        gpu=lambda wc: res(BASES[wc.base], "gpu", 0),
        mem_mb=lambda wc: res(BASES[wc.base], "mem_mb"),
        runtime=lambda wc: res(BASES[wc.base], "runtime"),
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
    threads: res(REFERENCE, "threads", 1)
    resources:
        gpu=res(REFERENCE, "gpu", 0),
        mem_mb=res(REFERENCE, "mem_mb"),
        runtime=res(REFERENCE, "runtime"),
    params:
        entry=REFERENCE,
        model=lambda wc: model_dir(REFERENCE),
    script:
        "../scripts/compatibility.py"
