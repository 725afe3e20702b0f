"""Screen one new base against every teacher of the study (rule screen_base): the same as
`teachergrid screen`, with the config's `screen` settings."""

from pathlib import Path

from teachergrid.analysis.screen_report import write
from teachergrid.screening.screen import Settings, base_scorer, read_teachers, run
from teachergrid.support.jobs import start
from teachergrid.support.params import join

sm = snakemake  # noqa: F821
log = start(sm)
cfg = sm.params.settings
base = join(sm.params.base, sm.params.base_ops)
teachers = read_teachers(
    Path(sm.params.root), sm.params.teachers, cfg["reward_model"], cfg["reward_mapping"]
)
settings = Settings(
    beta=float(cfg["beta"]),
    first_round=int(cfg["first_round"]),
    max_instructions=cfg["max_instructions"],
    max_gpu_hours=cfg["max_gpu_hours"],
    confidence=float(cfg["confidence"]),
    seed=int(cfg["seed"]),
)
score = base_scorer(sm.params.model, base, threads=sm.threads)
result = run(teachers, score, settings, base["metrics"], progress=log.info)
info = write(Path(sm.output[0]), result, teachers, settings.beta, settings, base)
log.info(
    "%s first (P(first) %.2f) after %d of %d instructions; stopped: %s",
    info["best_teacher"],
    info["p_first"],
    info["instructions_scored"],
    info["instructions_available"],
    info["stopped_by"],
)
