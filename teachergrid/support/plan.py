"""The study as the workflow plans it: from the validated config, which jobs exist, where each
runs, what each is told and which files the reports are.

Everything here is plain data built from the config, so that the Snakefile's rule files only
ask for it (`workflow/rules/common.smk`) and the logic is tested without Snakemake. What a job
is told is split into a tracked and an untracked part (`support.params`): the rerun policy.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from teachergrid.core.published_format import dataset_key
from teachergrid.support.layout import BENCHMARKS, Layout
from teachergrid.support.params import Untracked, split_entry

# Fine-tuning settings that change how fast a cell trains or how often it checkpoints, never
# the model it ends with (the per-device batch only splits the effective batch; sharding only
# places the same computation).
FINETUNE_UNTRACKED = (
    "save_steps",
    "keep_checkpoints",
    "per_device_batch_size",
    "gradient_checkpointing",
    "sharding",
)
# Evaluation settings of the answer-and-judge jobs that only set their speed.
EVALUATION_UNTRACKED = ("batch_size", "tensor_parallel_size", "gpu_memory_utilization")
# Evaluation settings of the win-rate analysis (the report), not of the judging jobs.
EVALUATION_ANALYSIS = ("length_control", "bootstrap", "seed")
# What decides how a model is loaded: a fine-tuning or evaluation job is told only these of a
# base's settings (its scoring batch and truncation belong to the compatibility stage).
LOADING_KEYS = (
    "name",
    "model",
    "revision",
    "dtype",
    "trust_remote_code",
    "attention",
    "chat_template",
    "local",
    "tiny",
)
# the report's settings that name the report's own copies of AlpacaEval's published files
LC_FILE_SETTINGS = {
    "instruction_difficulty": "difficulty_file",
    "gamed_baselines": "gamed_file",
}


def tracked(entry: dict[str, Any], *untracked_keys: str) -> dict[str, Any]:
    """The part of a job's settings that can change its result."""
    return split_entry(entry, untracked_keys)[0]


def untracked(entry: dict[str, Any], *untracked_keys: str, **extra: Any) -> Untracked:
    """The rest: labels, speed knobs, retries, paths. Snakemake does not compare it, so
    editing it reruns nothing. `extra`: more untracked values for the job."""
    return Untracked({**split_entry(entry, untracked_keys)[1].to_dict(), **extra})


def loading(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: entry[k] for k in LOADING_KEYS if k in entry}


class Plan:
    """The jobs of one study. `cfg` is the validated config; the scheduler resources are
    taken out of its sections (`resources`), so that asking for more memory or another GPU
    model is never a change to a job's settings."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        # with every mapping's keys sorted, reordering keys in the YAML file (or adding a
        # teacher) does not look like a change to the jobs that already ran
        self.cfg = cfg = json.loads(json.dumps(cfg, sort_keys=True))
        self.layout = Layout(cfg["study"])
        self.teachers = {t["name"]: t for t in cfg["teachers"]}
        self.bases = {b["name"]: b for b in cfg["bases"]}
        # new bases screened against the teachers only (rule screen_base)
        self.screen = cfg["screen"]
        self.screen_bases = {b["name"]: b for b in self.screen["bases"]}
        self.reward_models = {r["name"]: r for r in cfg["reward_models"]}
        self.reference = cfg["reference_model"]
        self.tiny = cfg.get("tiny_world") or {}
        self.evaluation = cfg.get("evaluation") or {}
        # `evaluation: {scores: FILE}`: AP read from published scores; nothing fine-tuned
        self.scores = self.evaluation.get("scores")
        self.accuracy = cfg.get("accuracy")
        self.resources = {
            "teachers": {n: t.pop("resources") for n, t in self.teachers.items()},
            "bases": {n: b.pop("resources") for n, b in self.bases.items()},
            "screen": {n: b.pop("resources") for n, b in self.screen_bases.items()},
            "reward_models": {n: r.pop("resources") for n, r in self.reward_models.items()},
            "reference": self.reference.pop("resources"),
            "tiny": self.tiny.pop("resources", None),
            "finetune": cfg["finetune"].pop("resources"),
            "evaluation": self.evaluation.pop("resources", None),
        }
        for stage in ("generation", "reward", "compatibility"):
            (cfg.get(stage) or {}).pop("resources", None)
        # the cells that are fine-tuned and evaluated (finetune.cells; every cell by default)
        self.finetune_cells = [tuple(c) for c in cfg["finetune_cells"]]
        self.evaluated = bool(self.evaluation) and not self.scores

        # Jobs that only talk to the network run on the submitting host, where the network
        # is: API teachers' generation, references that are published files or an API
        # teacher's answers, an LLM judge's prompts (the evaluation jobs' judging needs the
        # student on a GPU, so it runs there). Everything else goes to the cluster.
        backend = {n: t["backend"] for n, t in self.teachers.items()}
        self.api_teachers = [n for n, b in backend.items() if b == "openai"]
        # published teachers: responses, and the scores of the reward models the data set
        # names, are read from the data set on the host; nothing is generated
        self.dataset_teachers = [n for n, b in backend.items() if b == "dataset"]
        self.engine_teachers = [n for n, b in backend.items() if b not in ("openai", "dataset")]
        # the judge (none where nothing is judged), and the decoding the students answer with
        self.judge = self.evaluation.get("judge") or {}
        self.judge_on_host = self.judge.get("kind") == "openai"
        self.answer_decoding = (
            cfg["decodings"][self.evaluation["decoding"]] if self.evaluated else None
        )
        # published teachers whose data carries reward scores (not those known to hold only
        # text, as a screen's mix.jsonl: the reward models score those)
        self.scored_teachers = [
            n for n in self.dataset_teachers if self.teachers[n]["dataset"].get("scores") != []
        ]
        self.published_rms = self._published_reward_models() if self.scored_teachers else []
        benches = BENCHMARKS if self.evaluated else ()
        self.host_benches = [
            b
            for b in benches
            if self.reference_teacher(b) is None
            or self.reference_teacher(b)["name"] in self.api_teachers
        ]
        self.node_benches = [b for b in benches if b not in self.host_benches]

    def _published_reward_models(self) -> list[str]:
        """Reward models whose scores of every scored published teacher are read from its data:
        a key in the data (`dataset_key`), present in every published teacher's column as far
        as the config step could read it (local parquet files; hub data is checked by the
        job)."""
        known = [self.teachers[t]["dataset"].get("scores") for t in self.scored_teachers]
        return [
            name
            for name, rm in self.reward_models.items()
            if (key := dataset_key(rm)) is not None and all(k is None or key in k for k in known)
        ]

    # ---- models and what jobs are told --------------------------------------------------

    def model_dir(self, entry: dict[str, Any]) -> str:
        return self.layout.model_dir(entry)

    def model_input(self, entry: dict[str, Any]) -> list[str]:
        """Snakemake inputs for a model: only tiny models are files the workflow makes."""
        return [self.model_dir(entry)] if entry.get("tiny") else []

    def reference_teacher(self, bench: str) -> dict[str, Any] | None:
        """The teacher whose answers are a benchmark's references, or None (a data column)."""
        name = self.evaluation[bench]["reference"].get("teacher")
        return self.teachers[name] if name else None

    def reference_model_dir(self, bench: str) -> str | None:
        teacher = self.reference_teacher(bench)
        return self.model_dir(teacher) if teacher else None

    def reference_decoding(self, bench: str) -> dict[str, Any] | None:
        teacher = self.reference_teacher(bench)
        return self.cfg["decodings"][teacher["decoding"]] if teacher else None

    def evaluation_job_settings(self) -> dict[str, Any]:
        """What an evaluate job needs: how the model answers (no analysis keys, no benchmark
        data, no judge: those reach it as the eval_reference files and the judge params)."""
        skip = {*EVALUATION_ANALYSIS, *BENCHMARKS, "judge", "exclude_from_correlations"}
        return {k: v for k, v in self.evaluation.items() if k not in skip}

    def answer_limits(self) -> dict[str, int]:
        """Each benchmark's token limit for the students' answers: its `max_new_tokens`, or
        the evaluation decoding's."""
        if not self.evaluated:
            return {}
        default = self.cfg["decodings"][self.evaluation["decoding"]]["max_new_tokens"]
        return {b: self.evaluation[b].get("max_new_tokens") or default for b in BENCHMARKS}

    def lc_files(self) -> dict[str, Any]:
        """AlpacaEval's published files configured for the joint LC fit: key -> source."""
        lc = self.evaluation.get("length_control") or {}
        return {k: lc[k] for k in LC_FILE_SETTINGS if lc.get(k)}

    # ---- the reports --------------------------------------------------------------------

    def screening_outputs(self) -> list[str]:
        L = self.layout
        return [L.SCREENING] + [L.RANKINGS.format(base=b) for b in self.bases]

    def answers_checked(self) -> bool:
        """Whether the fine-tuned cells' answers are checked against the truth."""
        return self.evaluated and bool(self.truth("evaluation")) and bool(self.finetune_cells)

    def truth(self, split: str) -> list[str]:
        """The instruction file whose exact answers check a split (none without `accuracy`)."""
        return [self.accuracy[split]] if self.accuracy and self.accuracy.get(split) else []

    def study_report_extras(self) -> list[str]:
        """The report's files beside metrics.csv: the correlations (with an evaluation
        section) and, where answers are checked, the accuracy tables."""
        L = self.layout
        if not self.evaluation:
            return []
        extras = [L.CORRELATIONS, L.PARADOX, L.CAR_SENSITIVITY, L.CAR_TRANSFER]
        if self.answers_checked():
            extras += [L.AP_ACCURACY, L.ACCURACY_CORRELATIONS, L.BEST_TEACHERS]
            extras += [L.STUDENT_ACCURACY]
        return extras

    def report_outputs(self) -> list[str]:
        """Every report of the study: the screening's, metrics.csv, the extras and the page."""
        return [*self.report_tables(), self.layout.PAGE]

    def report_tables(self) -> list[str]:
        """The reports the page is drawn from: the screening's, metrics.csv and the extras."""
        return [*self.screening_outputs(), self.layout.METRICS, *self.study_report_extras()]

    def gpu_counts(self) -> dict[str, Any]:
        """The GPUs each job holds, by stage and model (`job_gpus` reads it): plain data, for
        a rule's params."""

        def gpus(resources: dict[str, Any] | None) -> int:
            return int((resources or {}).get("gpu") or 0)

        res = self.resources
        return {
            "generate": {n: gpus(r) for n, r in res["teachers"].items()},
            "reward": {n: gpus(r) for n, r in res["reward_models"].items()},
            "compatibility": {n: gpus(r) for n, r in res["bases"].items()},
            "screen": {n: gpus(r) for n, r in res["screen"].items()},
            "reference": gpus(res["reference"]),
            "finetune": gpus(res["finetune"]),
            "evaluate": gpus(res["evaluation"]),
            "evaluate_untuned": gpus(res["evaluation"]),
        }

    def screen_settings(self) -> dict[str, Any]:
        """What a screen_base job is told besides its base: the stopping rule and CAR's."""
        rule = {k: v for k, v in self.screen.items() if k != "bases"}
        car = self.cfg["car"]
        return {**rule, "beta": car["beta"], "reward_model": car["reward_model"],
                "reward_mapping": car["reward_mapping"]}  # fmt: skip

    def screening_report_cfg(self) -> dict[str, Any]:
        """What the screening report reads of the config: names, sizes (printed in the
        rankings) and CAR's settings."""
        cfg = {
            "teachers": [
                {"name": t["name"], "params_b": t.get("params_b")} for t in self.cfg["teachers"]
            ],
            "bases": list(self.bases),
            "reward_models": list(self.reward_models),
            "car": self.cfg["car"],
        }
        if self.accuracy:
            cfg["accuracy"] = self.accuracy
        return cfg

    def study_report_cfg(self) -> dict[str, Any]:
        """The screening report's settings plus the win-rate analysis settings."""
        ev = self.evaluation
        analysis = {k: ev[k] for k in (*EVALUATION_ANALYSIS, "scores") if k in ev} if ev else None
        if self.lc_files():  # the fit reads the report's own copies (rule alpaca_eval_lc_file)
            analysis["length_control"] = {
                **analysis["length_control"],
                **{
                    LC_FILE_SETTINGS[k]: self.layout.LC_FILE.format(lc_file=k)
                    for k in self.lc_files()
                },
            }
        cfg = {**self.screening_report_cfg(), "evaluation": analysis}
        # metrics.csv labels each cell with its teacher's family (and size)
        cfg["teachers"] = [
            {"name": t["name"], "family": t.get("family"), "params_b": t.get("params_b")}
            for t in self.cfg["teachers"]
        ]
        # how each cell's metrics are computed from its records (the bootstrap recomputes them)
        cfg["compat_metrics"] = {b: self.bases[b].get("metrics") for b in self.bases}
        cfg["reference_metrics"] = self.reference.get("metrics")
        if ev.get("exclude_from_correlations"):
            cfg["exclude_from_correlations"] = ev["exclude_from_correlations"]
        if self.evaluated and len(self.finetune_cells) < len(self.bases) * len(self.teachers):
            cfg["finetuned"] = [list(c) for c in self.finetune_cells]
        if self.scores and self.accuracy:
            # nothing fine-tuned, no students' answers to check: the teachers' accuracy only
            cfg["accuracy"] = {k: v for k, v in self.accuracy.items() if k != "evaluation"}
        cfg["judge_rule"] = "judge" if self.judge_on_host else "evaluate"  # writes judgements
        return cfg

    # ---- the preflight ------------------------------------------------------------------

    def _engine_limits(self, teacher: dict[str, Any]) -> dict[str, Any]:
        """What sizes a vLLM teacher's engine: its set context and its answers' token limit."""
        if teacher["backend"] != "vllm":
            return {}
        decoding = self.cfg["decodings"][teacher["decoding"]]
        return {"max_model_len": teacher["max_model_len"],
                "max_new_tokens": decoding["max_new_tokens"]}  # fmt: skip

    def preflight_cfg(self) -> dict[str, Any]:
        """Every model the study loads, as the preflight checks it: what decides whether and
        how it loads (no labels or speed knobs), and where its job loads it from."""

        def entry(e: dict[str, Any]) -> dict[str, Any]:
            extra = {k: e[k] for k in ("backend", "stop") if k in e}
            if e.get("api"):  # the name of the variable holding the key (never the key)
                extra["api"] = {"api_key_env": e["api"].get("api_key_env")}
            return {**loading(e), **extra, "path": self.model_dir(e)}

        judge = self.judge
        models = self.tiny.get("models") or {}
        return {
            "teachers": [
                {**entry(t), **self._engine_limits(t)}
                for t in self.cfg["teachers"]
                if t["backend"] != "dataset"
            ],
            "bases": [entry(b) for b in self.cfg["bases"]],
            "reward_models": [entry(r) for r in self.cfg["reward_models"]],
            "reference_model": entry(self.reference),
            "evaluation": {
                "judge": entry(judge) if "model" in judge else judge,
                # the engine the students answer in (evaluate jobs), and whether any job does
                "backend": self.evaluation.get("backend"),
                "scores": bool(self.scores),
            },
            "tiny_world": {
                "models": {n: {"architecture": r["architecture"]} for n, r in models.items()}
            },
        }


def job_gpus(counts: dict[str, Any], parts: Sequence[str]) -> int:
    """The GPUs held by the job whose benchmark file is `benchmarks/<parts...>.tsv` (a stage's
    folder, then the job's wildcards), from `Plan.gpu_counts`; 0 for what runs on CPUs."""
    stage, *rest = [p.removesuffix(".tsv") for p in parts]
    found = counts.get(stage, 0)
    if isinstance(found, dict):  # per model: the teacher, the base, or the reward model
        key = rest[-1] if stage == "reward" else (rest[0] if rest else "")
        return int(found.get(key, 0))
    return int(found)
