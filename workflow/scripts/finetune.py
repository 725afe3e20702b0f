"""Fine-tune one (base, teacher) cell (rule finetune): in this process on one device, under
`accelerate launch` with one process per GPU (and the project's own launcher config) when
the rule asks for several."""

import subprocess
import sys
from pathlib import Path

from teachergrid.core.jsonl import write_json
from teachergrid.support.jobs import start
from teachergrid.support.params import join
from teachergrid.training import finetune

sm = snakemake  # noqa: F821
log = start(sm)
ckpt = Path(sm.params.checkpoints)
settings = join(sm.params.finetune, sm.params.finetune_ops)
spec = {
    "base": join(sm.params.base, sm.params.base_ops),
    "teacher": sm.wildcards.teacher,
    "model": sm.params.model,
    "responses": sm.input.responses,
    "output": sm.output[0],
    "checkpoints": str(ckpt),
    "finetune": settings,
    "threads": sm.threads,
}
gpus = int(sm.resources["gpu"] or 0)
if gpus > 1:
    ckpt.mkdir(parents=True, exist_ok=True)
    write_json(ckpt / "spec.json", spec)
    cmd = finetune.launch_command(ckpt / "spec.json", gpus)
    log.info("launching: %s", " ".join(cmd))
    subprocess.run(cmd, check=True, stdout=sys.stderr, stderr=sys.stderr)
else:
    info = finetune.run(spec)
    log.info(
        "%d steps, train loss %.4f, resumed from %s",
        info["global_step"],
        info["train_loss"],
        info["resumed_from"],
    )
