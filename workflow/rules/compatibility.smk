# Base-model loss, PPL and IFD per (base, teacher); the reference model's per teacher.


rule compatibility:
    input:
        responses=layout.RESPONSES,
        model=lambda wc: model_input(BASES[wc.base]),
    output:
        records=layout.COMPATIBILITY_RECORDS,
        summary=layout.COMPATIBILITY,
    log:
        layout.LOGS["compatibility"],
    benchmark:
        f"{R}/benchmarks/compatibility/{{base}}/{{teacher}}.tsv"
    conda:
        "../../envs/generation.yaml"
    threads: cores(lambda wc: RESOURCES["bases"][wc.base])
    resources:
        **scheduler(lambda wc: RESOURCES["bases"][wc.base]),
    params:
        entry=lambda wc: tracked(BASES[wc.base]),
        ops=lambda wc: untracked(BASES[wc.base]),
        model=lambda wc: model_dir(BASES[wc.base]),
    script:
        "../scripts/compatibility.py"


rule reference:
    input:
        responses=layout.RESPONSES,
        model=model_input(REFERENCE),
    output:
        records=layout.REFERENCE_RECORDS,
        summary=layout.REFERENCE,
    log:
        layout.LOGS["reference"],
    benchmark:
        f"{R}/benchmarks/reference/{{teacher}}.tsv"
    conda:
        "../../envs/generation.yaml"
    threads: cores(RESOURCES["reference"])
    resources:
        **scheduler(RESOURCES["reference"]),
    params:
        entry=tracked(REFERENCE),
        ops=untracked(REFERENCE),
        model=lambda wc: model_dir(REFERENCE),
    script:
        "../scripts/compatibility.py"
