# Every teacher's responses scored by every reward model: one job per (teacher, reward model).


rule reward:
    input:
        responses=layout.RESPONSES,
        model=lambda wc: model_input(REWARD_MODELS[wc.rm]),
    output:
        layout.REWARDS,
    log:
        layout.LOGS["reward"],
    benchmark:
        f"{R}/benchmarks/reward/{{teacher}}/{{rm}}.tsv"
    conda:
        "../../envs/generation.yaml"
    threads: cores(lambda wc: RESOURCES["reward_models"][wc.rm])
    resources:
        **scheduler(lambda wc: RESOURCES["reward_models"][wc.rm]),
    params:
        entry=lambda wc: tracked(REWARD_MODELS[wc.rm]),
        ops=lambda wc: untracked(REWARD_MODELS[wc.rm]),
        model=lambda wc: model_dir(REWARD_MODELS[wc.rm]),
    script:
        "../scripts/reward.py"
