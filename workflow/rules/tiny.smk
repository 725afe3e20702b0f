# The offline tiny world: tokenizers and models trained from nothing (configs/tiny.yaml).


rule tiny_tokenizer:
    output:
        directory(f"{R}/tiny/tokenizers/{{tokenizer}}"),
    params:
        spec=lambda wc: TINY["tokenizers"][wc.tokenizer],
        seed=TINY.get("seed", 0),
    log:
        f"{R}/logs/tiny/tokenizer_{{tokenizer}}.log",
    benchmark:
        f"{R}/benchmarks/tiny/tokenizer_{{tokenizer}}.tsv"
    threads: 1
    resources:
        mem_mb=TINY.get("resources", {}).get("mem_mb", 2000),
        runtime=TINY.get("resources", {}).get("runtime", 30),
    script:
        "../scripts/tiny_tokenizer.py"


rule tiny_model:
    input:
        tokenizer=lambda wc: f"{R}/tiny/tokenizers/{TINY['models'][wc.name]['tokenizer']}",
    output:
        directory(f"{R}/tiny/models/{{name}}"),
    params:
        recipe=lambda wc: TINY["models"][wc.name],
        seed=TINY.get("seed", 0),
    log:
        f"{R}/logs/tiny/model_{{name}}.log",
    benchmark:
        f"{R}/benchmarks/tiny/model_{{name}}.tsv"
    threads: TINY.get("threads", 1)
    resources:
        mem_mb=TINY.get("resources", {}).get("mem_mb", 2000),
        runtime=TINY.get("resources", {}).get("runtime", 30),
    script:
        "../scripts/tiny_model.py"
