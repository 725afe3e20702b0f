"""Answer both benchmarks with one fine-tuned model (rule evaluate), and judge the answers
when the judge is a reward model (an LLM judge behind an API judges in rule judge, on the
submitting host); or with a base before fine-tuning (rule evaluate_untuned: answers only).
The scores are fitted from the judgements by the report. Under a __main__ guard: vLLM
spawns its engine in a process that imports this script again."""

from pathlib import Path

from teachergrid.backends.base import Decoding, make_backend
from teachergrid.evaluate import judge_answers
from teachergrid.jobs import start
from teachergrid.jsonl import read_jsonl, write_jsonl
from teachergrid.params import join


def main(sm) -> None:
    log = start(sm)
    ev = join(sm.params.evaluation, sm.params.evaluation_ops)
    base = sm.params.base
    alpaca = read_jsonl(sm.input.alpaca_eval)
    arena = read_jsonl(sm.input.arena_hard)
    prompts = {r["id"]: r["instruction"] for r in alpaca + arena}
    # The fine-tuned model carries the chat template it was trained with; a base answering
    # before fine-tuning (rule evaluate_untuned, params.model set) is given that same template.
    untuned = getattr(sm.params, "model", None) is not None
    generator = {
        "name": base["name"] if untuned else f"{base['name']}+{sm.wildcards.teacher}",
        "backend": ev["backend"],
        "batch_size": ev["batch_size"],
        "tensor_parallel_size": ev["tensor_parallel_size"],
        "max_model_len": ev["max_model_len"],
        "dtype": base.get("dtype", "auto"),
        "chat_template": base.get("chat_template") if untuned else None,
        "stop": [],
        "local": True,
        **({k: base[k] for k in ("revision", "trust_remote_code") if k in base} if untuned else {}),
    }
    backend = make_backend(
        generator,
        sm.params.model if untuned else sm.input.model,
        Decoding.from_config({**sm.params.decoding, "n": 1}),
        threads=sm.threads,
    )
    ids = list(prompts)
    generated = backend.generate([prompts[i] for i in ids])
    answers = {i: a[0] for i, a in zip(ids, generated, strict=True)}
    backend.close()
    write_jsonl(
        sm.output.answers, ({"id": i, "instruction": prompts[i], "answer": answers[i]} for i in ids)
    )
    if untuned:
        log.info("%d answers of the base before fine-tuning (checked, not judged)", len(answers))
        return
    if not hasattr(sm.output, "judgments"):  # the judge rule judges them
        log.info("%d answers; the judge rule judges them", len(answers))
        return
    judgments = judge_answers(
        join(sm.params.judge, sm.params.judge_ops),
        sm.params.judge_model,
        alpaca,
        arena,
        answers,
        {},
        sm.threads,
        Path(sm.output.judgments + ".judge_cache.jsonl"),
    )
    write_jsonl(sm.output.judgments, judgments)
    log.info("%d judgements of %d answers", len(judgments), len(answers))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
