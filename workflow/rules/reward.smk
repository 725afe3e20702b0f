# Every teacher's responses scored by every reward model: one job per (teacher, reward model).


rule reward:
    input:
        responses=L.RESPONSES,
        model=lambda wc: model_input(REWARD_MODELS[wc.rm]),
    output:
        L.REWARDS,
    log:
        L.LOGS["reward"],
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


# A published teacher's scores by a reward model the data set names: read, not computed.
rule published_rewards:
    input:
        instructions=f"{R}/instructions/train.jsonl",
        data=lambda wc: local_data(TEACHERS[wc.teacher]["dataset"]),
    output:
        L.REWARDS,
    log:
        L.LOGS["reward"],
    benchmark:
        f"{R}/benchmarks/reward/{{teacher}}/{{rm}}.tsv"
    wildcard_constraints:
        teacher=alternatives(SCORED_TEACHERS),
        rm=alternatives(PUBLISHED_RMS),
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    threads: cores(SMALL_JOB)
    resources:
        **scheduler(SMALL_JOB),
    params:
        dataset=lambda wc: tracked(TEACHERS[wc.teacher]["dataset"], "scores"),
        key=lambda wc: dataset_key(REWARD_MODELS[wc.rm]),
    script:
        "../scripts/published_rewards.py"


ruleorder: published_rewards > reward
