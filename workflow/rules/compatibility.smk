# Base-model loss, PPL and IFD per (base, teacher); the reference model's per teacher.


rule compatibility:
    input:
        responses=L.RESPONSES,
        model=lambda wc: model_input(BASES[wc.base]),
    output:
        records=L.COMPATIBILITY_RECORDS,
        summary=L.COMPATIBILITY,
    log:
        L.LOGS["compatibility"],
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
        responses=L.RESPONSES,
        model=model_input(REFERENCE),
    output:
        records=L.REFERENCE_RECORDS,
        summary=L.REFERENCE,
    log:
        L.LOGS["reference"],
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
