"""Train one tiny tokenizer (rule tiny_tokenizer)."""

from pathlib import Path

from teachergrid.jobs import start
from teachergrid.tiny.build import build_tokenizer

log = start(snakemake)  # noqa: F821
spec = snakemake.params.spec  # noqa: F821
build_tokenizer(Path(snakemake.output[0]), spec["vocab_size"], spec["chat_template"],  # noqa: F821
                snakemake.params.seed)  # noqa: F821
log.info("tokenizer written to %s", snakemake.output[0])  # noqa: F821
