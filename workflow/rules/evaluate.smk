# Benchmarks of the fine-tuned models: reference/baseline answers once per benchmark, then one
# evaluation job per (base, teacher): the model's answers, judged pairwise.


rule eval_reference:
    input:
        model=lambda wc: eval_reference_model_input(wc.bench),
    output:
        f"{R}/eval/{{bench}}/reference.jsonl",
    log:
        f"{R}/logs/eval/{{bench}}_reference.log",
    benchmark:
        f"{R}/benchmarks/eval/{{bench}}_reference.tsv"
    conda:
        "../../envs/generation.yaml"
    threads: cores(eval_reference_resources)
    resources:
        **scheduler(eval_reference_resources),
    params:
        spec=lambda wc: EVAL[wc.bench],
        teacher=lambda wc: eval_reference_teacher(wc.bench),
        model=lambda wc: eval_reference_model(wc.bench),
        decoding=lambda wc: eval_reference_decoding(wc.bench),
    script:
        "../scripts/eval_reference.py"


rule evaluate:
    input:
        model=f"{R}/models/{{base}}/{{teacher}}",
        alpaca_eval=f"{R}/eval/alpaca_eval/reference.jsonl",
        arena_hard=f"{R}/eval/arena_hard/reference.jsonl",
        judge=model_input(EVAL.get("judge", {})),
    output:
        scores=f"{R}/eval/{{base}}/{{teacher}}.json",
        answers=f"{R}/eval/{{base}}/{{teacher}}.answers.jsonl",
        judgments=f"{R}/eval/{{base}}/{{teacher}}.judgments.jsonl",
    log:
        f"{R}/logs/evaluate/{{base}}/{{teacher}}.log",
    benchmark:
        f"{R}/benchmarks/evaluate/{{base}}/{{teacher}}.tsv"
    conda:
        "../../envs/generation.yaml"
    threads: cores(RESOURCES["evaluation"] or SMALL_JOB)
    resources:
        **scheduler(RESOURCES["evaluation"] or SMALL_JOB),
    params:
        base=lambda wc: BASES[wc.base],
        evaluation=EVAL,
        decoding=CFG["decodings"].get(EVAL.get("decoding", "greedy")),
        judge_model=lambda wc: (
            model_dir(EVAL["judge"]) if "model" in EVAL["judge"] else None
        ),
    script:
        "../scripts/evaluate.py"
