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
    threads: lambda wc: res(REWARD_MODELS[wc.rm], "threads", 1)
    resources:
        gpu=lambda wc: res(REWARD_MODELS[wc.rm], "gpu", 0),
        mem_mb=lambda wc: res(REWARD_MODELS[wc.rm], "mem_mb"),
        runtime=lambda wc: res(REWARD_MODELS[wc.rm], "runtime"),
    params:
        entry=lambda wc: REWARD_MODELS[wc.rm],
        model=lambda wc: model_dir(REWARD_MODELS[wc.rm]),
    script:
        "../scripts/reward.py"
