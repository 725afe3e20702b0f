"""Real Snakemake runs: the tiny grid from nothing, then rerunning one cell; and the paper-sized
DAG of config.yaml built (dry run) on a machine without GPUs or a hub."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
import yaml
from helpers import REPO, TINY, job_counts, quick_config, snakemake_cmd, tiny_config

from teachergrid.tiny.judging import check_judge

pytestmark = pytest.mark.workflow
TINY_EVAL = REPO / "data" / "instructions" / "tiny_eval.jsonl"


def snakemake(
    workdir: Path,
    *args: str,
    configfile: Path | None = TINY,
    expect_success: bool = True,
    umask: int = -1,
) -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    proc = subprocess.run(
        # a dry run starts no job: no warm worker to start for it
        snakemake_cmd(workdir, configfile, *args, worker="-n" not in args),
        capture_output=True,
        text=True,
        env=env,
        timeout=1200,
        umask=umask,
    )
    output = proc.stdout + proc.stderr
    assert (proc.returncode == 0) == expect_success, output[-4000:]
    return output


def project(workdir: Path) -> Path:
    """A project as a user has it: the tiny config and its data inside the working
    directory (as in a clone running `make demo`). Returns the config's path there."""
    shutil.copytree(REPO / "data" / "instructions", workdir / "data" / "instructions")
    (workdir / "configs").mkdir()
    shutil.copy2(TINY, workdir / "configs" / "tiny.yaml")
    return workdir / "configs" / "tiny.yaml"


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("tiny-grid")
    # as in a project group's shared folder, whose members write group-writable files
    snakemake(workdir, configfile=project(workdir), umask=0o002)
    return workdir


def copy_of(grid: Path, tmp_path: Path) -> Path:
    """A test that reruns jobs or writes files works on its own copy of the finished grid
    (the shared one stays as the first run left it, whatever order the tests run in)."""
    work = tmp_path / "grid"
    shutil.copytree(grid, work, symlinks=True)
    return work


def in_grid(grid: Path, *args: str, **kwargs) -> str:
    """Snakemake on the finished grid with its own config."""
    return snakemake(grid, *args, configfile=grid / "configs" / "tiny.yaml", **kwargs)


SCREENING = [
    "base",
    "teacher",
    "reward_rm-llama",
    "beta",
    "reward",
    "loss",
    "ppl_self",
    "ifd_self",
    "ppl_ref",
    "ifd_ref",
    "length",
    "car",
    "teacher_accuracy",
]
EVALUATION = [
    "alpaca_eval_wr",
    "alpaca_eval_lc",
    "alpaca_eval_lc_extreme",
    "alpaca_eval_lc_method",
    "arena_hard_wr",
    "arena_hard_ci_low",
    "arena_hard_ci_high",
    "ap",
    "alpaca_eval_judged",
    "alpaca_eval_dropped",
    "alpaca_eval_cut",
    "arena_hard_judged",
    "arena_hard_dropped",
    "arena_hard_cut",
    "accuracy",
]


def test_screening_report_has_every_cell_and_consistent_car(grid):
    screening = pd.read_csv(
        grid / "results/tiny-offline-grid/report/screening.csv", keep_default_na=False
    )
    assert list(screening.columns) == [*SCREENING, "missing"]
    table = pd.read_csv(
        grid / "results/tiny-offline-grid/report/metrics.csv", keep_default_na=False
    )
    assert list(table.columns) == [*SCREENING[:2], "family", "params_b", *SCREENING[2:],
                                   *EVALUATION, "missing"]  # fmt: skip
    assert table[SCREENING].equals(screening[SCREENING])
    # the teachers' labels, as configured (the analysis of this table alone needs the sizes)
    assert (table["params_b"] == table["teacher"].map(SIZES)).all()
    assert set(table["family"]) == {"Llama", "Qwen", "Gemma", "Phi"}
    assert table["teacher"].nunique() >= 10 and table["base"].nunique() >= 4
    assert len(table) == table["teacher"].nunique() * table["base"].nunique()
    # every cell finished: nothing is missing, every value is there
    assert set(table["missing"]) == {""} and set(screening["missing"]) == {""}
    assert table[SCREENING + EVALUATION].notna().all().all()
    recomputed = table["reward"] / (1 + table["beta"] * table["loss"])
    assert (table["car"] - recomputed).abs().max() < 1e-12
    for base in table["base"].unique():
        assert (grid / f"results/tiny-offline-grid/report/screening/{base}.md").exists()


def test_the_tiny_world_plants_an_effect_that_the_pipeline_recovers(grid):
    table = pd.read_csv(grid / "results/tiny-offline-grid/report/metrics.csv")
    # the configured sizes are the models' real parameter counts
    for name, size in SIZES.items():
        info = json.loads(
            (grid / f"results/tiny-offline-grid/tiny/models/{name}/tiny_recipe.json").read_text()
        )
        assert info["parameters"] == round(size * 1e9), name
    # Thresholds below hold with margin over seeds 0, 1 and 2 of the world (each a whole study
    # from nothing, as another machine's rounding makes one: benchmarks/tiny_seeds.py, whose
    # figures the README states), not only over this machine's run of seed 0.
    # A teacher's correctness comes from its knowledge gaps, not its size: every family's
    # gap-free (middle-sized) teacher is far more accurate than its gap-0.3 one (24-44 points)
    accuracy = table.groupby("teacher")["teacher_accuracy"].first()
    for family, gappy in (("llama", "s"), ("qwen", "l"), ("gemma", "l"), ("phi", "s")):
        assert accuracy[f"{family}-m"] > accuracy[f"{family}-{gappy}"] + 10
    # students learn: the best cell of every base answers over half the tasks exactly (62-78%),
    # where the base before fine-tuning (same prompts, same chat template) answers 0-14%
    assert table.groupby("base")["accuracy"].max().min() > 50
    students = pd.read_csv(
        grid / "results/tiny-offline-grid/report/student_accuracy.csv"
    ).set_index("base")
    assert list(students.index) == list(BASES) and (students["n_cells"] == 12).all()
    assert (students["untuned_accuracy"] < 25).all()
    assert (students["min_accuracy"] > students["untuned_accuracy"] + 5).all()
    by_base = table.groupby("base")["accuracy"]
    assert students["max_accuracy"].to_dict() == by_base.max().to_dict()
    assert students["median_accuracy"].to_dict() == by_base.median().to_dict()
    # by construction each base learns best from its own family's teachers, most of all the
    # gap-free one: the ground truth says so (its own family always; the gap-free teacher on
    # 3 or 4 bases), CAR and the loss put that teacher first for every base; the largest
    # teacher is never the best
    best = pd.read_csv(grid / "results/tiny-offline-grid/report/best_teachers.csv").set_index(
        "base"
    )
    own = {b: f"{b.removeprefix('base-')}-m" for b in BASES}
    assert all(best["accuracy"][b].split("-")[0] == own[b].split("-")[0] for b in BASES)
    assert best["car"].to_dict() == own and best["loss"].to_dict() == own
    assert best["car_right"].sum() >= 3 and best["loss_right"].sum() >= 3
    assert not best["params_b_right"].any()
    # the judge-based evaluation measures what it claims: AP ranks the cells as their
    # ground-truth accuracy does (Spearman 0.85-0.94 over the three seeds)
    check = pd.read_csv(grid / "results/tiny-offline-grid/report/ap_accuracy.csv").set_index("base")
    assert check.loc["all", "n_cells"] == 48 and check.loc["all", "spearman_rho"] >= 0.7
    # because the judge tells right answers from wrong ones (75-78% of pairs) and its dialect
    # offsets are small beside that (0.06-0.15 of its right-less-wrong separation): no family's
    # students are ranked by their dialect. CAR's reward model tells them apart as well
    # (73-76%); its offsets are larger (0.10-0.31) and CAR's ranking is what it is.
    judge = check_judge(grid / "results/tiny-offline-grid/tiny/models/judge-rm", TINY_EVAL)
    assert judge.accuracy["all"] > 65 and judge.relative_spread < 0.35, judge
    reward = check_judge(grid / "results/tiny-offline-grid/tiny/models/rm-llama", TINY_EVAL)
    assert reward.accuracy["all"] > 65, reward
    # against the truth, the teachers' correctness (and the reward that measures it) rank
    # the cells better than size does
    truth = pd.read_csv(grid / "results/tiny-offline-grid/report/accuracy_correlations.csv")
    average = truth[truth["base"] == "average"].set_index("metric")["spearman_rho"]
    assert average["teacher_accuracy"] > average["params_b"] + 0.3
    assert average["reward"] > average["params_b"]


def test_every_job_left_a_log_and_a_benchmark(grid):
    logs = list((grid / "results/tiny-offline-grid/logs").rglob("*.log"))
    benchmarks = list((grid / "results/tiny-offline-grid/benchmarks").rglob("*.tsv"))
    assert len(logs) == len(benchmarks) >= 12 * 4 * 3 + 12 * 3 + 19
    assert any("responses" in p.read_text() for p in logs)


def test_every_result_honours_the_umask(grid):
    # run under umask 002, as in a project group's shared folder: every file the study wrote is
    # the group's to read, and every folder to open, as an ordinary `open` or `mkdir` leaves
    # them (atomic writes included)
    paths = [p for p in (grid / "results/tiny-offline-grid").rglob("*") if not p.is_symlink()]
    assert len(paths) > 500
    wanted = {True: 0o050, False: 0o040}  # folders: read and enter; files: read
    private = [
        str(p.relative_to(grid))
        for p in paths
        if p.stat().st_mode & wanted[p.is_dir()] != wanted[p.is_dir()]
    ]
    assert not private, private[:10]
    # and what the job writes itself is the group's to write too (umask 002: 0664)
    assert (grid / "results/tiny-offline-grid/report/metrics.csv").stat().st_mode & 0o777 == 0o664


def test_one_cell_reruns_alone_then_with_its_reports(grid, tmp_path):
    grid = copy_of(grid, tmp_path)
    cell = "results/tiny-offline-grid/compatibility/base-qwen/qwen-s.json"
    others = sorted((grid / "results/tiny-offline-grid/compatibility").rglob("*.json"))
    before = {p: p.stat().st_mtime_ns for p in others}
    assert "Nothing to be done" in in_grid(grid, "-n")
    # asking for one cell's output recomputes exactly that cell
    ran = in_grid(grid, "--force", cell)
    assert job_counts(ran) == {"compatibility": 1, "total": 1}
    changed = [p for p in others if p.stat().st_mtime_ns != before[p]]
    assert [str(p.relative_to(grid)) for p in changed] == [cell]
    # the same content again: snakemake's checksums see nothing new downstream
    assert "Nothing to be done" in in_grid(grid, "-n")
    # forcing the cell through the whole workflow reruns it and only the reports after it
    ran = in_grid(grid, "--forcerun", cell)
    assert job_counts(ran) == {
        "all": 1,
        "compatibility": 1,
        "screening_report": 1,
        "report": 1,
        "report_page": 1,
        "total": 5,
    }


BASES = ("base-llama", "base-qwen", "base-gemma", "base-phi")
# params_b of every tiny model, as configs/tiny.yaml declares them
SIZES = {
    m["name"]: m["params_b"]
    for m in yaml.safe_load(TINY.read_text())["teachers"]
    + yaml.safe_load(TINY.read_text())["bases"]
}
NOTHING: dict[str, int] = {}
REPORTS = {"screening_report": 1, "report": 1, "report_page": 1, "all": 1, "total": 4}
# the report and the page drawn from it
REPORT = {"report": 1, "report_page": 1, "all": 1, "total": 3}
# (what is edited, the edit, the jobs a dry run then lists)
EDITS = [
    ("a teacher's size label", lambda c: c["teachers"][0].update(params_b=70.0), REPORTS),
    (
        "a teacher's family label (metrics.csv's column)",
        lambda c: c["teachers"][1].update(family="Other"),
        REPORT,
    ),
    ("a teacher's batch size", lambda c: c["teachers"][2].update(batch_size=7), NOTHING),
    ("compatibility.batch_size", lambda c: c["compatibility"].update(batch_size=5), NOTHING),
    ("generation.shard_size", lambda c: c["generation"].update(shard_size=32), NOTHING),
    ("finetune.save_steps", lambda c: c["finetune"].update(save_steps=3), NOTHING),
    (
        "finetune.per_device_batch_size (same effective batch)",
        lambda c: c["finetune"].update(per_device_batch_size=8),
        NOTHING,
    ),
    ("evaluation.batch_size", lambda c: c["evaluation"].update(batch_size=9), NOTHING),
    ("the judge's batch size", lambda c: c["evaluation"]["judge"].update(batch_size=9), NOTHING),
    ("resources", lambda c: c["finetune"]["resources"].update(mem_mb=3000), NOTHING),
    (
        "evaluation.bootstrap",
        lambda c: c["evaluation"].update(bootstrap=50),
        REPORT,
    ),
    ("car.beta", lambda c: c["car"].update(beta=0.5), REPORTS),
    (
        "a base's truncation for the loss",
        lambda c: c["bases"][0].update(max_length=200),
        {"compatibility": 12, **REPORTS, "total": 16},
    ),
    (
        "finetune.learning_rate",
        lambda c: c["finetune"].update(learning_rate=5e-4),
        {"finetune": 48, "evaluate": 48, "exports": 1, **REPORT, "total": 100},
    ),
    (
        "a published instruction difficulty for the LC fit",
        lambda c: c["evaluation"]["length_control"].update(
            instruction_difficulty={"source": "difficulty.csv"}
        ),
        {"alpaca_eval_lc_file": 1, **REPORT, "total": 4},
    ),
]


def test_an_edit_reruns_exactly_the_jobs_whose_results_it_changes(grid, tmp_path):
    grid = copy_of(grid, tmp_path)
    raw = yaml.safe_load((grid / "configs" / "tiny.yaml").read_text())
    raw["evaluation"].setdefault("length_control", {})
    rows = "".join(f"{i},0\n" for i in range(200))
    (grid / "configs" / "difficulty.csv").write_text("index,instruction_difficulty\n" + rows)
    paths = []
    for number, (_, edit, _) in enumerate(EDITS):
        cfg = copy.deepcopy(raw)
        edit(cfg)
        # beside tiny.yaml: the config's data paths are relative to its folder
        paths.append(grid / "configs" / f"edited-{number}.yaml")
        paths[-1].write_text(yaml.safe_dump(cfg))
    # dry runs take no lock and write nothing: two at a time, one per core
    with ThreadPoolExecutor(max_workers=2) as pool:
        dry = list(pool.map(lambda path: snakemake(grid, "-n", configfile=path), paths))
    for path in paths:
        path.unlink()
    seen = {what: job_counts(out) for (what, _, _), out in zip(EDITS, dry, strict=True)}
    assert seen == {what: expected for what, _, expected in EDITS}


def test_a_dry_run_with_a_new_teacher_lists_its_jobs_behind_the_pending_preflight(grid, tmp_path):
    grid = copy_of(grid, tmp_path)
    raw = yaml.safe_load((grid / "configs" / "tiny.yaml").read_text())
    raw["teachers"].append({"name": "llama-m2", "model": "tiny:llama-m2", "params_b": 0.0002})
    raw["tiny_world"]["models"]["llama-m2"] = dict(raw["tiny_world"]["models"]["llama-m"])
    path = grid / "configs" / "plus-one.yaml"
    path.write_text(yaml.safe_dump(raw))
    try:
        out = snakemake(grid, "-n", configfile=path)
    finally:
        path.unlink()
    # the preflight's checks changed: it runs first, and the dry run still shows what follows
    # it, the new teacher's jobs (one per base where a cell has one) and the reports
    assert "the preflight runs first" in out
    assert job_counts(out) == {
        "tiny_model": 1,
        "generate": 1,
        "reward": 1,
        "reference": 1,
        "compatibility": 4,
        "finetune": 4,
        "evaluate": 4,
        "exports": 1,
        **REPORTS,
        "total": 21,
    }


def test_two_studies_in_one_project_never_touch_each_others_files(grid, tmp_path):
    """The demo's folder is results/tiny-offline-grid/: a dry run of the paper's study in the
    same project lists the paper's whole DAG (nothing of the demo's counts as done for it),
    and a run of another config writes only under its own study's folder."""
    grid = copy_of(grid, tmp_path)
    demo = grid / "results/tiny-offline-grid"
    before = {p: p.stat().st_mtime_ns for p in demo.rglob("*") if p.is_file()}
    # the paper's study (config.yaml, offline): its whole DAG
    out = snakemake(grid, "-n", configfile=None)
    paper = job_counts(out)
    assert paper["total"] == 500 and paper["preflight"] == 1
    # the 19 open teachers' responses and scores are the published Generator Zoo's; GPT-4 (an
    # API teacher) and the published benchmark answers are fetched on the host
    assert paper["published_responses"] == 19 and paper["generate_api"] == 1
    assert "generate" not in paper
    assert paper["published_rewards"] == 57 and paper["reward"] == 3
    assert paper["eval_reference_host"] == 2 and "eval_reference" not in paper
    assert paper["compatibility"] == 100 and paper["reference"] == 20
    # GPT-4 is fine-tuned on one base (finetune.cells), the open teachers on all five
    assert paper["finetune"] == 96 and paper["evaluate"] == 96 and paper["exports"] == 1
    # GPU resources reach the jobs (tensor-parallel sizes: test_jobs_ask_the_scheduler_...)
    assert re.search(r"rule finetune:(?:\n\s+[^\n]*)*?\n\s+resources: [^\n]*gpu=4", out)
    assert re.search(r"rule evaluate:(?:\n\s+[^\n]*)*?\n\s+resources: [^\n]*gpu=1", out)
    other = yaml.safe_load((grid / "configs" / "tiny.yaml").read_text())
    other["study"] = "second-look"
    path = grid / "configs" / "second-look.yaml"
    path.write_text(yaml.safe_dump(other))
    # (the target before --configfile, which takes every word after it)
    target = "results/second-look/instructions/train.jsonl"
    snakemake(grid, target, "--configfile", str(path), configfile=None)
    assert (grid / "results/second-look/instructions/train.jsonl").exists()
    assert {p: p.stat().st_mtime_ns for p in demo.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in (grid / "results").iterdir()) == [
        "second-look",
        "tiny-offline-grid",
    ]


def test_students_answers_load_in_alpaca_evals_own_reader_and_arena_hards_shape(grid):
    """The exports hold every student's answers as the official tools read them: AlpacaEval's
    model_outputs.json through the alpaca-eval package's own loader (its environment,
    envs/analysis.yaml), Arena-Hard's answer file one question per line, as its loader keys it."""
    from environments import ENVS, built_env

    from teachergrid.core.jsonl import read_jsonl

    study = grid / "results/tiny-offline-grid"
    answers = read_jsonl(study / "eval/base-qwen/gemma-m.answers.jsonl")
    prompts = read_jsonl(study / "eval/alpaca_eval/reference.jsonl")
    path = study / "exports/alpaca_eval/base-qwen--gemma-m/model_outputs.json"
    code = (
        "import json, sys; from alpaca_eval.utils import load_or_convert_to_dataframe as load; "
        "frame = load(sys.argv[1]); print(json.dumps(frame.to_dict('records')))"
    )
    proc = subprocess.run(
        [str(built_env(ENVS / "analysis.yaml")), "-c", code, str(path)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    given = {a["id"]: a["answer"] for a in answers if "alpaca_eval" in a["benchmarks"]}
    assert loaded == [
        {
            "instruction": p["instruction"],
            "output": given[p["id"]],
            "generator": "base-qwen--gemma-m",
        }
        for p in prompts
    ]
    arena = read_jsonl(study / "exports/arena_hard/model_answer/base-qwen--gemma-m.jsonl")
    questions = read_jsonl(study / "eval/arena_hard/reference.jsonl")
    assert sorted(r["question_id"] for r in arena) == sorted(q["id"] for q in questions)
    assert {r["model_id"] for r in arena} == {"base-qwen--gemma-m"}
    assert all(r["choices"][0]["turns"][0]["content"] for r in arena)
    assert len(list((study / "exports/arena_hard/model_answer").glob("*.jsonl"))) == 48


def test_the_reports_lc_fit_looks_published_difficulties_up_by_prompt_position(grid, tmp_path):
    """The report's joint fit over the grid's own judgements, given a difficulty per position
    in the benchmark's file: a constant one leaves every LC where it was (each cell's quality
    absorbs it, to the fit's tolerance), and one short of a prompt is refused."""
    from teachergrid.core.jsonl import read_jsonl
    from teachergrid.evaluation.scores import alpaca_eval_table

    judgments = {
        f"{b}/{t}": read_jsonl(grid / "results/tiny-offline-grid/eval" / b / f"{t}.judgments.jsonl")
        for b in BASES
        for t in ("llama-m", "qwen-s", "phi-l")
    }
    positions = sorted(
        {j["index"] for js in judgments.values() for j in js if j["benchmark"] == "alpaca_eval"}
    )
    assert positions[0] >= 0 and len(positions) == 160

    def lcs(rows):
        if rows is None:
            settings = {"length_control": {"mode": "joint"}}
        else:
            path = tmp_path / f"d{len(list(tmp_path.iterdir()))}.csv"
            path.write_text(
                "index,instruction_difficulty\n" + "".join(f"{i},{v}\n" for i, v in rows)
            )
            settings = {"length_control": {"mode": "joint", "difficulty_file": str(path)}}
        table = alpaca_eval_table(judgments, settings)
        return pd.Series({cell: v["alpaca_eval_lc"] for cell, v in table.items()})

    plain = lcs(None)
    assert (lcs([(i, 2.0) for i in positions]) - plain).abs().max() < 0.1  # fit tolerance
    # looked up by position, not by the prompt's id: the one position left out is named
    with pytest.raises(ValueError, match=r"no instruction difficulty for prompt\(s\) 0: "):
        lcs([(i, 0.0) for i in positions[1:]])


def test_a_rerun_from_scratch_gives_byte_identical_results(grid, tmp_path):
    """One teacher rebuilt from nothing, with everything downstream of it (its responses, four
    cells' scores, fine-tuned models and answers, the reports): every file is byte for byte
    what the first run wrote."""
    again = tmp_path / "again"
    shutil.copytree(grid, again, symlinks=True)
    ran = snakemake(
        again,
        "--forcerun",
        "results/tiny-offline-grid/tiny/models/qwen-s",
        configfile=again / "configs/tiny.yaml",
    )
    counts = job_counts(ran)
    assert counts["tiny_model"] == 1 and counts["finetune"] == 4 and counts["report"] == 1
    compared = [
        "results/tiny-offline-grid/tiny/models/qwen-s/model.safetensors",
        "results/tiny-offline-grid/responses/qwen-s.jsonl",
        "results/tiny-offline-grid/rewards/qwen-s/rm-llama.jsonl",
        *(f"results/tiny-offline-grid/compatibility/{b}/qwen-s.jsonl" for b in BASES),
        *(f"results/tiny-offline-grid/eval/{b}/qwen-s.answers.jsonl" for b in BASES),
        *(f"results/tiny-offline-grid/eval/{b}/qwen-s.judgments.jsonl" for b in BASES),
        "results/tiny-offline-grid/report/screening.csv",
        "results/tiny-offline-grid/report/metrics.csv",
        "results/tiny-offline-grid/report/correlations.csv",
        "results/tiny-offline-grid/report/ap_accuracy.csv",
        "results/tiny-offline-grid/exports/alpaca_eval/base-llama--qwen-s/model_outputs.json",
        "results/tiny-offline-grid/exports/arena_hard/model_answer/base-llama--qwen-s.jsonl",
    ]
    differ = [f for f in compared if (again / f).read_bytes() != (grid / f).read_bytes()]
    assert differ == []


def test_moving_the_project_reruns_nothing(grid, tmp_path):
    moved = tmp_path / "elsewhere" / "project"
    shutil.copytree(grid, moved, symlinks=True)
    out = snakemake(moved, "-n", configfile=moved / "configs" / "tiny.yaml")
    assert "Nothing to be done" in out, out[-3000:]


def test_every_cell_fine_tuned_evaluated_and_correlated(grid):
    table = pd.read_csv(grid / "results/tiny-offline-grid/report/metrics.csv")
    assert table[EVALUATION].notna().all().all()
    assert (table["arena_hard_ci_low"] <= table["arena_hard_wr"]).all()
    assert (table["arena_hard_wr"] <= table["arena_hard_ci_high"]).all()
    labels = ("alpaca_eval_lc_extreme", "alpaca_eval_lc_method")
    counts = [c for c in EVALUATION if c.endswith(("_judged", "_dropped", "_cut"))]
    rates = [c for c in EVALUATION if c not in (*labels, *counts)]
    # every prompt judged (a reward-model judge always gives a verdict); the counts are whole
    prompts = len(
        pd.read_json(
            grid / "results/tiny-offline-grid/eval/alpaca_eval/reference.jsonl", lines=True
        )
    )
    assert (table["alpaca_eval_judged"] == prompts).all() and (
        table["arena_hard_dropped"] == 0
    ).all()
    assert (table[counts] >= 0).all().all() and (table[counts] % 1 == 0).all().all()
    # the tiny config fits its cells jointly, without AlpacaEval's published files
    assert set(table["alpaca_eval_lc_method"]) == {"joint"}
    assert ((table[rates] >= 0) & (table[rates] <= 100)).all().all()
    # AP is the paper's on every row, flagged or not; AlpacaEval's extreme-change rule is a flag
    flagged = table["alpaca_eval_lc_extreme"].astype(bool)
    ap = (table["alpaca_eval_lc"] + table["arena_hard_wr"]) / 2
    assert ((table["ap"] - ap).abs() < 1e-9).all()
    from teachergrid.evaluation.winrates import is_extreme_change

    assert list(flagged) == [
        is_extreme_change(wr, lc)
        for wr, lc in zip(table["alpaca_eval_wr"], table["alpaca_eval_lc"], strict=True)
    ]
    for row in table.itertuples():
        model = grid / f"results/tiny-offline-grid/models/{row.base}/{row.teacher}"
        assert (model / "model.safetensors").exists()
        info = json.loads((model / "finetune_config.json").read_text())
        assert info["global_step"] > 0 and info["config"]["learning_rate"] == 1e-3
    corr = pd.read_csv(grid / "results/tiny-offline-grid/report/correlations.csv")
    per_base = corr[corr["base"] != "average"]
    metrics = set(SCREENING[2:]) - {"beta"} | {"params_b"}
    assert set(per_base["metric"]) == metrics
    assert len(per_base) == len(metrics) * table["base"].nunique()
    assert per_base[["spearman_rho", "spearman_p", "kendall_tau", "kendall_p"]].notna().all().all()
    # bootstrap intervals over instructions beside each coefficient
    for value in ("spearman_rho", "kendall_tau"):
        low, high = corr[f"{value}_ci_low"], corr[f"{value}_ci_high"]
        assert (low <= high).all() and low.between(-1, 1).all() and high.between(-1, 1).all()
    assert set(corr[corr["base"] == "average"]["metric"]) == metrics
    paradox = pd.read_csv(grid / "results/tiny-offline-grid/report/paradox.csv")
    assert list(paradox["base"]) == list(table["base"].unique())
    best = table.loc[table.groupby("base")["ap"].idxmax()].set_index("base")["teacher"]
    assert dict(zip(paradox["base"], paradox["best_teacher"], strict=True)) == best.to_dict()


def test_the_papers_table4_from_published_scores_needs_no_fine_tuning(tmp_path):
    """`evaluation: {scores: data/paper/table6.csv}` on the paper's study: the screening jobs
    and the reports, and not one fine-tuning or evaluation job."""
    raw = yaml.safe_load((REPO / "config.yaml").read_text())
    raw["evaluation"] = {
        "scores": str(REPO / "data" / "paper" / "table6.csv"),
        "exclude_from_correlations": ["GPT-4"],
    }
    config = tmp_path / "screen-only.yaml"
    config.write_text(yaml.safe_dump(raw))
    shutil.copytree(REPO / "data", tmp_path / "data")  # the config's relative paths
    counts = job_counts(snakemake(tmp_path, "-n", configfile=config))
    assert counts["compatibility"] == 100 and counts["report"] == 1
    assert not {"finetune", "evaluate", "evaluate_untuned", "judge", "eval_reference",
                "eval_reference_host", "judge_prompts"} & set(counts)  # fmt: skip


def _resources_of(output: str, rule: str) -> list[dict[str, str]]:
    """The `resources:` line of every job of a rule in a dry run, as key -> value."""
    lines = re.findall(rf"rule {rule}:(?:\n\s+[^\n]*)*?\n\s+resources: ([^\n]*)", output)
    return [dict(pair.split("=", 1) for pair in line.split(", ")) for line in lines]


def test_jobs_ask_the_scheduler_for_what_the_config_declares(tmp_path):
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["finetune"]["resources"].update(gpu_model="h100", mem_mb_max=400000)
    cfg["generation"]["published"] = False  # regenerate every teacher
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(cfg))

    def dry_run(attempt: int) -> str:
        return snakemake(tmp_path, "-n", "--attempt", str(attempt), configfile=path)

    first, third = dry_run(1), dry_run(3)
    finetune = _resources_of(first, "finetune")
    assert len(finetune) == 96
    for job in finetune:
        assert (job["gpu"], job["gpu_model"], job["cpus_per_gpu"]) == ("4", "h100", "8")
        assert (job["mem_mb"], job["runtime"]) == ("256000", "1440")
    # memory grows with the attempt (x3) but stops at the cap
    assert {job["mem_mb"] for job in _resources_of(third, "finetune")} == {"400000"}
    # without an explicit cap, the third attempt asks for twice the first request
    assert {job["mem_mb"] for job in _resources_of(third, "compatibility")} == {"128000"}
    generate = _resources_of(first, "generate")
    assert len(generate) == 19
    # a vLLM teacher asks for one GPU per tensor-parallel rank; a closed one behind an API is
    # generated on the submitting host (generate_api), asking the cluster for nothing
    expected = [
        t.get("tensor_parallel_size", 1) for t in cfg["teachers"] if t.get("backend") != "openai"
    ]
    assert sorted(int(job["gpu"]) for job in generate) == sorted(expected)
    assert 8 in expected and len(_resources_of(first, "generate_api")) == 1
    assert all(job["gpu_model"] == "" for job in generate)


def test_api_teacher_through_the_workflow_keeps_its_key_out_of_every_file(tmp_path):
    """A closed teacher behind a flaky OpenAI-compatible server, run by Snakemake: every
    instruction answered once, no answer paid for twice, and the key in no file of the run
    (results, logs, benchmarks, Snakemake's own metadata)."""
    from fake_openai import FakeOpenAI

    secret = "sk-workflow-secret-4711"
    faults = [[], ["429"], ["500", "503"], ["timeout"], ["garbage"], ["no-choices", "429"]]

    def plan(prompt: str) -> list[str]:
        return faults[len(prompt) % len(faults)]

    cfg = tiny_config()
    cfg["instructions"]["sample"] = 160
    path = tmp_path / "api.yaml"
    target = "results/tiny-offline-grid/responses/closed.jsonl"
    env = {**os.environ, "TG_TEST_KEY": secret}
    with FakeOpenAI(plan, timeout_sleep=0.6) as server:
        cfg["teachers"].append(
            {"name": "closed", "model": "gpt-x", "backend": "openai", "params_b": 1000,
             "api": {"model": "gpt-x", "base_url": server.base_url, "api_key_env": "TG_TEST_KEY",
                     "max_concurrency": 4, "timeout_s": 0.3, "max_retries": 6,
                     "backoff_s": 0.01}}
        )  # fmt: skip
        path.write_text(yaml.safe_dump(cfg))
        cmd = snakemake_cmd(tmp_path, None, target, "--configfile", str(path))
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
        rows = [json.loads(line) for line in (tmp_path / target).read_text().splitlines()]
        instructions = (
            (tmp_path / "results/tiny-offline-grid/instructions/train.jsonl")
            .read_text()
            .splitlines()
        )
        assert len(rows) == len(instructions) == 160
        assert sorted(r["id"] for r in rows) == sorted(json.loads(i)["id"] for i in instructions)
        assert all(r["response"] for r in rows)
        assert set(server.answered.values()) == {1}
        assert server.auth == {f"Bearer {secret}"}
        # a job killed half-way through its shards: the answers it had are not bought again
        shards = tmp_path / "results/tiny-offline-grid/responses/closed.shards"
        for shard in shards.glob("shard-*.jsonl"):
            shard.unlink()
        sent = server.requests
        proc = subprocess.run(
            [*cmd, "--forcerun", target], capture_output=True, text=True, env=env, timeout=600
        )
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
        assert server.requests == sent
    assert secret not in proc.stdout + proc.stderr
    leaks = [
        str(f.relative_to(tmp_path))
        for f in tmp_path.rglob("*")
        if f.is_file() and secret.encode() in f.read_bytes()
    ]
    assert (tmp_path / ".snakemake/metadata").is_dir() and (
        tmp_path / "results/tiny-offline-grid/logs"
    ).is_dir()
    assert leaks == []


def test_a_broken_teacher_leaves_partial_reports_that_a_rerun_completes(grid, tmp_path):
    """A teacher whose weights do not load: every other cell is reported, the broken cells are
    listed (report files and log, with the job log to read), and fixing the teacher and running
    again fills them in."""
    work = tmp_path / "project"
    shutil.copytree(grid, work, symlinks=True)
    weights = work / "models" / "broken" / "model.safetensors"
    shutil.copytree(grid / "results/tiny-offline-grid/tiny/models/llama-s", weights.parent)
    good = weights.read_bytes()
    weights.write_bytes(b"not a safetensors file")
    raw = yaml.safe_load((work / "configs" / "tiny.yaml").read_text())
    raw["teachers"].append(
        {"name": "broken", "model": "../models/broken", "family": "Llama", "params_b": 0.0002}
    )
    config = work / "configs" / "with-broken.yaml"
    config.write_text(yaml.safe_dump(raw))

    out = snakemake(work, "--keep-going", configfile=config, expect_success=False)
    for base in ("base-llama", "base-qwen", "base-gemma", "base-phi"):
        assert (
            f"teachergrid: cell {base}/broken is not in the report: generate did not finish "
            "(log: results/tiny-offline-grid/logs/generate/broken.log)"
        ) in out
    assert "partial reports over 48 of 52 cells in results/tiny-offline-grid/report/partial/" in out
    assert (
        "safetensors" in (work / "results/tiny-offline-grid/logs/generate/broken.log").read_text()
    )
    # the complete run's reports are withdrawn (this run changed what they were built from);
    # the partial ones are where no rule writes, so the next run has the reports to make
    # (14 tables, the page and its figures' folder)
    assert "removed 16 reports of an earlier run from results/tiny-offline-grid/report/" in out
    assert sorted(p.name for p in (work / "results/tiny-offline-grid/report").iterdir()) == [
        "partial"
    ]
    partial = work / "results/tiny-offline-grid/report/partial"
    table = pd.read_csv(partial / "metrics.csv")
    assert len(table) == 52
    broken = table[table["teacher"] == "broken"]
    assert set(broken["missing"]) == {"generate"}
    # the broken cells carry their teacher's labels and nothing measured
    labels = ["base", "teacher", "family", "params_b", "missing"]
    assert broken.drop(columns=labels).isna().all().all()
    done = table[table["teacher"] != "broken"].reset_index(drop=True)
    assert done["missing"].isna().all()
    # the finished cells' numbers are those of the complete run
    before = pd.read_csv(grid / "results/tiny-offline-grid/report/metrics.csv")
    # (the flag column is read as object where the broken cells' rows are empty)
    pd.testing.assert_frame_equal(
        done.drop(columns="missing"), before.drop(columns="missing"), check_dtype=False
    )
    corr = pd.read_csv(partial / "correlations.csv")
    assert set(corr[corr["base"] != "average"]["n_teachers"]) == {12}
    ranking = (partial / "screening/base-qwen.md").read_text()
    assert (
        "- broken: `generate` (log: `results/tiny-offline-grid/logs/generate/broken.log`)"
        in ranking
    )
    listed = pd.read_csv(partial / "missing.csv")
    assert set(listed["teacher"]) == {"broken"} and set(listed["rule"]) == {"generate"}
    # the partial page: the same figures over the finished cells, the missing ones marked
    page = (partial / "index.html").read_text()
    assert "4 cell(s) are missing from this report" in page and "Partial report" in page
    heatmap = (partial / "figures/ap_heatmap.svg").read_text()
    assert "48 of 52 cells, 4 missing (hatched)" in heatmap
    assert heatmap.count(">missing<") == 4

    weights.write_bytes(good)
    snakemake(work, "--keep-going", configfile=config)
    assert not partial.exists()
    table = pd.read_csv(work / "results/tiny-offline-grid/report/metrics.csv")
    assert len(table) == 52 and table["missing"].isna().all()
    assert table[table["teacher"] == "broken"][["car", "ap"]].notna().all().all()
    corr = pd.read_csv(work / "results/tiny-offline-grid/report/correlations.csv")
    assert set(corr[corr["base"] != "average"]["n_teachers"]) == {13}


def test_preflight_failure_stops_the_run_before_any_other_job(tmp_path):
    """A teacher whose architecture its backend lacks: one line naming it and the fix, and not
    one other job (not even the tiny world's) has run."""
    folder = tmp_path / "phi3-small"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"architectures": ["Phi3SmallForCausalLM"]}))
    cfg = tiny_config()
    cfg["teachers"].append({"name": "phi3-small", "model": str(folder), "params_b": 7})
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = snakemake(tmp_path, configfile=path, expect_success=False)
    assert "teachergrid preflight: phi3-small: transformers" in out
    assert "has no architecture Phi3SmallForCausalLM" in out
    assert (
        "teachergrid: the preflight did not pass (results/tiny-offline-grid/logs/preflight.log)"
        in out
    )
    study = tmp_path / "results/tiny-offline-grid"
    made = sorted(p.relative_to(study).parts[0] for p in study.rglob("*") if p.is_file())
    assert set(made) <= {"logs", "benchmarks"}, made
    assert not (tmp_path / "results/tiny-offline-grid/preflight.txt").exists()


def test_the_users_cluster_command_lists_the_papers_dag(tmp_path):
    """`snakemake --profile slurm -n`, typed in the repository root: the workflow's own profile
    is found by name and the paper's whole DAG is listed (no site profile in the way here)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "XDG_CONFIG_HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--profile", "slurm", "-n"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    counts = job_counts(out)
    assert (
        counts["total"] == 500
        and counts["preflight"] == 1
        and counts["judge_prompts"] == 1
        and counts["alpaca_eval_lc_file"] == 2  # instruction difficulty, gamed baselines
        and counts["compatibility"] == 100
        and counts["finetune"] == 96  # GPT-4 on one base, the open teachers on all five
        and counts["judge"] == 96
    )


def test_an_llm_judge_judges_on_the_submitting_host(tmp_path, tiny_llama):
    """An LLM judge behind a real OpenAI-compatible server (`transformers serve` with a tiny
    model): the fine-tuned cell answers in `evaluate`, the `judge` rule (a local job) judges
    with the benchmarks' protocols and the prompts the `judge_prompts` rule kept. The tiny
    model gives no verdicts: every judgement is dropped and counted, none scored as a tie."""
    from helpers import transformers_serve

    cfg = quick_config()
    for bench in ("alpaca_eval", "arena_hard"):
        cfg["evaluation"][bench]["prompts"] = {**cfg["instructions"]["eval"], "sample": 6}
    target = "results/tiny-offline-grid/eval/base-qwen/qwen-l.judgments.jsonl"
    with transformers_serve(tiny_llama, tmp_path / "serve.log") as url:
        cfg["evaluation"]["judge"] = {
            "kind": "openai",
            "api": {"model": str(tiny_llama), "base_url": url, "api_key_env": "TG_JUDGE_KEY",
                    "max_tokens": 12, "max_concurrency": 2},
            "prompts": {"alpaca_eval": "builtin", "arena_hard": "builtin"},
        }  # fmt: skip
        path = tmp_path / "judged.yaml"
        path.write_text(yaml.safe_dump(cfg))
        env = {**os.environ, "TG_JUDGE_KEY": "sk-local", "HF_HUB_OFFLINE": "1"}
        proc = subprocess.run(
            snakemake_cmd(tmp_path, None, target, "--configfile", str(path)),
            capture_output=True, text=True, env=env,
            timeout=1200,
        )  # fmt: skip
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out[-4000:]
        requests = (tmp_path / "serve.log").read_text().count("POST /v1/chat/completions")
    counts = job_counts(out)
    assert counts["judge"] == 1 and counts["evaluate"] == 1 and counts["judge_prompts"] == 1
    assert "localrule judge:" in out
    judgments = [json.loads(line) for line in (tmp_path / target).read_text().splitlines()]
    alpaca = [j for j in judgments if j["benchmark"] == "alpaca_eval"]
    arena = [j for j in judgments if j["benchmark"] == "arena_hard"]
    assert len(alpaca) == 6 and len(arena) == 6
    # an answer identical to the reference is a draw the judge never sees (AlpacaEval's rule)
    answers = {
        r["id"]: r["answer"]
        for r in map(json.loads, (tmp_path / target.replace("judgments", "answers")).open())
    }
    reference = {
        r["id"]: r["answer"]
        for r in map(
            json.loads,
            (tmp_path / "results/tiny-offline-grid/eval/alpaca_eval/reference.jsonl").open(),
        )
    }
    same = {j["id"] for j in alpaca if answers[j["id"]] == reference[j["id"]]}
    # one AlpacaEval request per prompt judged; Arena-Hard both orders, each continued once
    # (a reply without a verdict label gets its second turn, as Arena-Hard's judge does)
    assert requests == (6 - len(same)) + 2 * 2 * 6
    assert all(j["preference"] == (0.5 if j["id"] in same else None) for j in alpaca)
    assert all(j["model_first"] is None and j["baseline_first"] is None for j in arena)
    log = (tmp_path / "results/tiny-offline-grid/logs/judge/base-qwen/qwen-l.log").read_text()
    asked = 6 - len(same)
    assert not asked or f"alpaca_eval: {asked} of {asked} judge replies had no usable" in log
    kept = (tmp_path / "results/tiny-offline-grid/eval/judge_prompts/arena_hard.txt").read_text()
    assert "[[A>>B]]" in kept and "{question_1}" in kept


def test_the_report_page_opens_in_a_real_browser(grid, tmp_path):
    """The study's page in a headless chromium: every figure decodes to a picture of non-zero
    size, the page logs nothing to the console, and it needs no network (opened from disk,
    with every request other than the file itself refused). A screenshot is kept with the
    test's outputs."""
    from browser import browser

    report = grid / "results/tiny-offline-grid/report"
    pngs = sorted(p.stem for p in (report / "figures").glob("*.png"))
    svgs = sorted(p.stem for p in (report / "figures").glob("*.svg"))
    assert pngs == svgs == sorted(
        ["ap_heatmap", "ap_per_teacher", "paradox", "car_against_ap", "table4",
         "car_sensitivity", "truth", "recommendations", "costs"]
    )  # fmt: skip
    driver = browser()
    try:
        driver.get((report / "index.html").as_uri())
        images = driver.execute_script(
            "return Array.from(document.images).map(i => "
            "[i.closest('figure').id, i.complete, i.naturalWidth, i.naturalHeight])"
        )
        resources = driver.execute_script(
            "return performance.getEntriesByType('resource').map(r => r.name)"
        )
        console = driver.get_log("browser")
        height = driver.execute_script("return document.body.scrollHeight")
        driver.set_window_size(1200, height + 100)
        shot = tmp_path / "report-page.png"
        assert driver.save_screenshot(str(shot))
    finally:
        driver.quit()
    assert sorted(i[0] for i in images) == pngs
    assert all(done and width > 100 and high > 100 for _, done, width, high in images), images
    assert console == []
    assert [r for r in resources if not r.startswith(("data:", "file:"))] == []
    assert shot.stat().st_size > 50_000
    print(f"screenshot: {shot}")
    # what the figures say is what the tables say
    table = pd.read_csv(report / "metrics.csv")
    heatmap = (report / "figures/ap_heatmap.svg").read_text()
    assert f"AP of every cell: {table['ap'].notna().sum()} of {len(table)} cells" in heatmap
    costs = (report / "figures/costs.svg").read_text()
    assert "finetune" in costs and "48 jobs" in costs
    page = (report / "index.html").read_text()
    best = pd.read_csv(report / "best_teachers.csv")
    assert "Against the truth" in page and all(b in page for b in best["base"])


def test_snakemake_report_holds_the_page_and_every_figure(grid, tmp_path):
    """Snakemake's own report of the finished grid carries the page and each figure as report
    items with their captions."""
    import zipfile

    work = copy_of(grid, tmp_path)
    in_grid(work, "--report", str(tmp_path / "report.zip"))
    with zipfile.ZipFile(tmp_path / "report.zip") as archive:
        names = archive.namelist()
        html = archive.read(next(n for n in names if n.endswith("/report.html"))).decode()
    stored = {Path(n).name for n in names if "/data/raw/" in n}
    figures = {p.name for p in (work / "results/tiny-offline-grid/report/figures").glob("*.png")}
    assert len(figures) == 9 and stored == {"index.html", *figures}
    # each item with its caption (the figure's name filled in from the file's pattern)
    assert "self-contained HTML page" in html
    for name in figures:
        assert f"The study's figure {Path(name).stem}" in html


def test_a_new_base_is_screened_in_the_workflow_without_fine_tuning(grid, tmp_path):
    """`screen.bases` in the config: `snakemake screen_bases` runs one screen_base job per new
    base on the finished study's responses and rewards, and nothing else; each puts first the
    teacher that is truly best for that base (the study's own fine-tuned accuracy), on a part
    of the instructions, and writes a training set `datasets` loads."""
    import datasets

    from teachergrid.core.jsonl import read_jsonl

    work = copy_of(grid, tmp_path)
    raw = yaml.safe_load((work / "configs/tiny.yaml").read_text())
    raw["screen"] = {
        "bases": [
            {"name": "new-llama", "model": "tiny:base-llama", "family": "Llama"},
            {"name": "new-qwen", "model": "tiny:base-qwen", "family": "Qwen"},
        ],
        "first_round": 16,
    }
    config = work / "configs/with-screen.yaml"
    config.write_text(yaml.safe_dump(raw))
    # (a target before --configfile, which takes every value after it)
    ran = snakemake(work, "screen_bases", "--configfile", str(config), configfile=None)
    assert job_counts(ran) == {"screen_base": 2, "screen_bases": 1, "total": 3}
    best = pd.read_csv(grid / "results/tiny-offline-grid/report/best_teachers.csv")
    truth = dict(zip(best["base"], best["accuracy"], strict=True))
    for name, base in (("new-llama", "base-llama"), ("new-qwen", "base-qwen")):
        out = work / "results/tiny-offline-grid/screen" / name
        info = json.loads((out / "screen.json").read_text())
        assert info["best_teacher"] == truth[base]
        assert info["stopped_by"] == "settled"
        assert info["instructions_scored"] < info["instructions_available"]
        ranking = pd.read_csv(out / "ranking.csv")
        assert list(ranking["rank"]) == list(range(1, 13))
        mix = datasets.load_dataset("json", data_files=str(out / "mix.jsonl"), split="train")
        assert len(mix) == info["instructions_available"]
        assert (out / "rank_by_round.png").stat().st_size > 0
        log = (work / f"results/tiny-offline-grid/logs/screen/{name}.log").read_text()
        assert "instructions scored" in log and "tokens/s" in log
    # how many instructions the rankings needed, against the study's fine-tuned accuracy
    from teachergrid.cli import main

    screens = [
        str(work / "results/tiny-offline-grid/screen" / n) for n in ("new-llama", "new-qwen")
    ]
    metrics = work / "results/tiny-offline-grid/report/metrics.csv"
    renamed = pd.read_csv(metrics).replace(
        {"base": {"base-llama": "new-llama", "base-qwen": "new-qwen"}}
    )
    renamed.to_csv(tmp_path / "truth.csv", index=False)
    summary = tmp_path / "convergence.csv"
    args = ["screen-convergence", *screens, "--scores", str(tmp_path / "truth.csv")]
    assert main([*args, "--truth", "accuracy", "--out", str(summary)]) == 0
    table = pd.read_csv(summary).set_index(["base", "metric"])
    for name in ("new-llama", "new-qwen"):
        info = json.loads((Path(screens[0]).parent / name / "screen.json").read_text())
        row = table.loc[(name, "car")]
        assert row["leader"] == info["best_teacher"] and row["leader_truth_rank"] == 1
        assert row["instructions"] == info["instructions_scored"]
        assert row["leader_stable_from"] <= row["instructions"] and row["spearman_truth"] > 0
        steps = pd.read_csv(Path(screens[0]).parent / name / "convergence.csv")
        assert steps["instructions"].max() == info["instructions_scored"]
    # the mix is a training set like any teacher's: a published-style teacher whose responses
    # are its `response` column, fine-tuned on the base it was built for
    mix = work / "results/tiny-offline-grid/screen/new-llama/mix.jsonl"
    raw["teachers"].append({"name": "mix-llama", "family": "Mix",
                            "dataset": {"source": str(mix), "column": "response"}})  # fmt: skip
    config.write_text(yaml.safe_dump(raw))
    model = "results/tiny-offline-grid/models/base-llama/mix-llama"
    # its text carries no scores: the reward model scores it, as a generated teacher's
    rewards = "results/tiny-offline-grid/rewards/mix-llama/rm-llama.jsonl"
    ran = snakemake(work, model, rewards, "--configfile", str(config), configfile=None)
    counts = job_counts(ran)
    assert counts["finetune"] == 1 and counts["reward"] == 1 and "published_rewards" not in counts
    trained = json.loads((work / model / "finetune_config.json").read_text())
    assert trained["examples"] == len(read_jsonl(mix)) and trained["global_step"] > 0
