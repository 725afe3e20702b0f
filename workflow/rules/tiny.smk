# The offline tiny world: tokenizers and models trained from nothing (configs/tiny.yaml).
# (only a study with a tiny_world has these rules)


if TINY:

    # All tokenizers in one job: each trains in about a second, less than a job's start-up.
    rule tiny_tokenizers:
        input:
            preflight=ancient(L.PREFLIGHT),
        output:
            directory(f"{R}/tiny/tokenizers"),
        log:
            f"{R}/logs/tiny/tokenizers.log",
        benchmark:
            f"{R}/benchmarks/tiny/tokenizers.tsv"
        conda:
            "../../envs/training.yaml"
        threads: cores(RESOURCES["tiny"] or SMALL_JOB)
        resources:
            **scheduler(RESOURCES["tiny"] or SMALL_JOB),
        params:
            specs=TINY["tokenizers"],
            seed=TINY["seed"],
        script:
            "../scripts/tiny_tokenizers.py"

    rule tiny_model:
        input:
            tokenizers=f"{R}/tiny/tokenizers",
        output:
            directory(f"{R}/tiny/models/{{name}}"),
        log:
            f"{R}/logs/tiny/model_{{name}}.log",
        benchmark:
            f"{R}/benchmarks/tiny/model_{{name}}.tsv"
        conda:
            "../../envs/training.yaml"
        threads: cores(RESOURCES["tiny"] or SMALL_JOB)
        resources:
            **scheduler(RESOURCES["tiny"] or SMALL_JOB),
        params:
            recipe=lambda wc: TINY["models"][wc.name],
            tokenizer=lambda wc: f"{R}/tiny/tokenizers/{TINY['models'][wc.name]['tokenizer']}",
            seed=TINY["seed"],
        script:
            "../scripts/tiny_model.py"
