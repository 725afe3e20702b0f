# Benchmarks of the fine-tuned models: reference/baseline answers once per benchmark, then one
# evaluation job per (base, teacher): the model's answers, judged pairwise. The win rates are
# fitted from the judgements by the report (report.smk), so analysis settings rerun no judging.


rule eval_reference:
    input:
        model=lambda wc: model_input(P.reference_teacher(wc.bench) or {}),
        prompts=lambda wc: local_data(EVAL[wc.bench]["prompts"]),
        answers=lambda wc: local_data(EVAL[wc.bench]["reference"]),
        preflight=ancient(L.PREFLIGHT),
    output:
        L.EVAL_REFERENCE,
    log:
        L.LOGS["eval_reference"],
    benchmark:
        f"{R}/benchmarks/eval/{{bench}}_reference.tsv"
    wildcard_constraints:
        bench=alternatives(NODE_BENCHES),
    conda:
        "../../envs/generation.yaml"
    threads: cores(eval_reference_resources)
    resources:
        **scheduler(eval_reference_resources),
    params:
        # (the students' token limit is the evaluate job's, not the references')
        spec=lambda wc: {
            k: v for k, v in EVAL[wc.bench].items() if k != "max_new_tokens"
        },
        teacher=lambda wc: tracked(P.reference_teacher(wc.bench) or {}) or None,
        ops=lambda wc: untracked(P.reference_teacher(wc.bench) or {}),
        model=lambda wc: P.reference_model_dir(wc.bench),
        decoding=lambda wc: P.reference_decoding(wc.bench),
    script:
        "../scripts/eval_reference.py"


# A benchmark's published answers (a hub download) or an API teacher's: on the submitting host.
use rule eval_reference as eval_reference_host with:
    wildcard_constraints:
        bench=alternatives(HOST_BENCHES),
    localrule: True


# AlpacaEval's published files for the joint LC fit (instruction difficulty, gamed baselines),
# from the hub on the submitting host, or local files; checked and kept beside the results.
rule alpaca_eval_lc_file:
    input:
        lambda wc: local_data(P.lc_files()[wc.lc_file]),
    output:
        L.LC_FILE,
    log:
        L.LOGS["alpaca_eval_lc_file"],
    benchmark:
        f"{R}/benchmarks/eval/{{lc_file}}.tsv"
    wildcard_constraints:
        lc_file=alternatives(LC_FILES),
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    threads: cores(SMALL_JOB)
    resources:
        **scheduler(SMALL_JOB),
    params:
        spec=lambda wc: P.lc_files()[wc.lc_file],
    script:
        "../scripts/alpaca_eval_lc_file.py"


# An LLM judge's prompts, from the benchmarks' published configurations: fetched once, on the
# submitting host (where the network is), and kept beside the results.
rule judge_prompts:
    output:
        expand(L.JUDGE_PROMPT, bench=BENCHMARKS),
    log:
        L.LOGS["judge_prompts"],
    benchmark:
        f"{R}/benchmarks/eval/judge_prompts.tsv"
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    threads: cores(SMALL_JOB)
    resources:
        **scheduler(SMALL_JOB),
    params:
        sources=P.judge.get("prompts"),
    script:
        "../scripts/judge_prompts.py"


# The fine-tuned model answers both benchmarks on a GPU. A reward-model judge judges in the same
# job; an LLM judge behind an API judges in a job of its own (judge) on the submitting host.
rule evaluate:
    input:
        model=L.MODEL,
        alpaca_eval=L.EVAL_REFERENCE.format(bench="alpaca_eval"),
        arena_hard=L.EVAL_REFERENCE.format(bench="arena_hard"),
        judge=[] if JUDGE_ON_HOST else model_input(P.judge),
    output:
        **({} if JUDGE_ON_HOST else {"judgments": L.JUDGMENTS}),
        answers=L.ANSWERS,
    log:
        L.LOGS["evaluate"],
    benchmark:
        f"{R}/benchmarks/evaluate/{{base}}/{{teacher}}.tsv"
    conda:
        "../../envs/generation.yaml"
    threads: cores(RESOURCES["evaluation"] or SMALL_JOB)
    resources:
        **scheduler(RESOURCES["evaluation"] or SMALL_JOB),
    params:
        base=lambda wc: tracked(loading(BASES[wc.base])),
        base_ops=lambda wc: untracked(loading(BASES[wc.base])),
        evaluation=tracked(P.evaluation_job_settings(), *EVALUATION_UNTRACKED),
        evaluation_ops=untracked(P.evaluation_job_settings(), *EVALUATION_UNTRACKED),
        decoding=P.answer_decoding,
        max_new_tokens=P.answer_limits(),
        judge=None if JUDGE_ON_HOST else tracked(P.judge),
        judge_ops=None if JUDGE_ON_HOST else untracked(P.judge),
        judge_model=lambda wc: model_dir(P.judge) if "model" in P.judge else None,
    script:
        "../scripts/evaluate.py"


# Where answers can be checked (`accuracy`), each base also answers the evaluation prompts
# before any fine-tuning, with the chat template its students are trained on: the floor that
# the students' accuracies are read against (report: student_accuracy.csv). Not judged.
rule evaluate_untuned:
    input:
        model=lambda wc: model_input(BASES[wc.base]),
        alpaca_eval=L.EVAL_REFERENCE.format(bench="alpaca_eval"),
        arena_hard=L.EVAL_REFERENCE.format(bench="arena_hard"),
    output:
        answers=L.UNTUNED_ANSWERS,
    log:
        L.LOGS["evaluate_untuned"],
    benchmark:
        f"{R}/benchmarks/evaluate_untuned/{{base}}.tsv"
    conda:
        "../../envs/generation.yaml"
    threads: cores(RESOURCES["evaluation"] or SMALL_JOB)
    resources:
        **scheduler(RESOURCES["evaluation"] or SMALL_JOB),
    params:
        base=lambda wc: tracked(loading(BASES[wc.base])),
        base_ops=lambda wc: untracked(loading(BASES[wc.base])),
        evaluation=tracked(P.evaluation_job_settings(), *EVALUATION_UNTRACKED),
        evaluation_ops=untracked(P.evaluation_job_settings(), *EVALUATION_UNTRACKED),
        decoding=P.answer_decoding,
        max_new_tokens=P.answer_limits(),
        model=lambda wc: model_dir(BASES[wc.base]),
    script:
        "../scripts/evaluate_untuned.py"


if JUDGE_ON_HOST:

    rule judge:
        input:
            answers=L.ANSWERS,
            alpaca_eval=L.EVAL_REFERENCE.format(bench="alpaca_eval"),
            arena_hard=L.EVAL_REFERENCE.format(bench="arena_hard"),
            prompts=expand(L.JUDGE_PROMPT, bench=BENCHMARKS),
        output:
            judgments=L.JUDGMENTS,
        log:
            L.LOGS["judge"],
        benchmark:
            f"{R}/benchmarks/judge/{{base}}/{{teacher}}.tsv"
        localrule: True
        conda:
            "../../envs/generation.yaml"
        threads: cores(SMALL_JOB)
        resources:
            **scheduler(SMALL_JOB),
        params:
            judge=tracked(P.judge),
            judge_ops=untracked(P.judge),
            judge_model=None,
        script:
            "../scripts/judge.py"


# Every student's answers in the benchmarks' own file shapes (AlpacaEval's model_outputs.json,
# Arena-Hard's answer files), so that the official tools can be rerun on them: one job over all
# cells, on the submitting host (a file conversion).
rule exports:
    input:
        answers=lambda wc: [L.ANSWERS.format(base=b, teacher=t) for b, t in FT_CELLS],
        alpaca_eval=L.EVAL_REFERENCE.format(bench="alpaca_eval"),
        arena_hard=L.EVAL_REFERENCE.format(bench="arena_hard"),
    output:
        export_outputs(),
    log:
        L.LOGS["exports"],
    benchmark:
        f"{R}/benchmarks/exports.tsv"
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    threads: cores(SMALL_JOB)
    resources:
        **scheduler(SMALL_JOB),
    params:
        cells=[list(c) for c in FT_CELLS],
    script:
        "../scripts/exports.py"
