"""Answer both benchmarks with one fine-tuned model (rule evaluate), and judge the answers
when the judge is a reward model (an LLM judge behind an API judges in rule judge, on the
submitting host); or with a base before fine-tuning (rule evaluate_untuned: answers only).
The scores are fitted from the judgements by the report. Under a __main__ guard: vLLM
spawns its engine in a process that imports this script again."""

from pathlib import Path

from teachergrid.core.jsonl import read_jsonl, write_jsonl
from teachergrid.evaluation.judging import judge_answers
from teachergrid.screening.backends.base import Decoding
from teachergrid.screening.backends.factory import make_backend
from teachergrid.support.jobs import start
from teachergrid.support.params import join


def main(sm) -> None:
    log = start(sm)
    ev = join(sm.params.evaluation, sm.params.evaluation_ops)
    base = sm.params.base
    alpaca = read_jsonl(sm.input.alpaca_eval)
    arena = read_jsonl(sm.input.arena_hard)
    # each benchmark's prompts answered at its own token limit (Arena-Hard's is 4096); a prompt
    # both benchmarks hold at the same limit is answered once, for both
    limits = sm.params.max_new_tokens
    groups: dict[int, dict[str, dict]] = {}
    for bench, rows in (("alpaca_eval", alpaca), ("arena_hard", arena)):
        for r in rows:
            entry = groups.setdefault(limits[bench], {}).setdefault(
                r["id"], {"id": r["id"], "instruction": r["instruction"], "benchmarks": []}
            )
            entry["benchmarks"].append(bench)
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
    answers = []
    for limit, entries in sorted(groups.items()):
        backend = make_backend(
            generator,
            sm.params.model if untuned else sm.input.model,
            Decoding.from_config({**sm.params.decoding, "n": 1, "max_new_tokens": limit}),
            threads=sm.threads,
        )
        rows = list(entries.values())
        generated = backend.generate([r["instruction"] for r in rows])
        finish = getattr(backend, "last_finish", None) or [["unknown"]] * len(rows)
        backend.close()
        for r, texts, reasons in zip(rows, generated, finish, strict=True):
            answers.append({**r, "answer": texts[0], "finish_reason": reasons[0]})
        cut = sum(r["finish_reason"] == "length" for r in answers[-len(rows) :])
        log.info("%d answers at most %d new tokens; %d cut at the limit", len(rows), limit, cut)
    write_jsonl(sm.output.answers, answers)
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
