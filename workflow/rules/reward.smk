# Every teacher's responses scored by every reward model: one job per (teacher, reward model).


rule reward:
    input:
        responses=f"{R}/responses/{{teacher}}.jsonl",
        model=lambda wc: model_input(REWARD_MODELS[wc.rm]),
    output:
        f"{R}/rewards/{{teacher}}/{{rm}}.jsonl",
    log:
        f"{R}/logs/reward/{{teacher}}/{{rm}}.log",
    benchmark:
        f"{R}/benchmarks/reward/{{teacher}}/{{rm}}.tsv"
    conda:
        "../../envs/generation.yaml"
    threads: cores(lambda wc: RESOURCES["reward_models"][wc.rm])
    resources:
        **scheduler(lambda wc: RESOURCES["reward_models"][wc.rm]),
    params:
        entry=lambda wc: REWARD_MODELS[wc.rm],
        model=lambda wc: model_dir(REWARD_MODELS[wc.rm]),
    script:
        "../scripts/reward.py"
