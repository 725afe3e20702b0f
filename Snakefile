# teachergrid: teachers x bases, from generation through CAR screening, fine-tuning and
# evaluation to the correlation report.
# The study is described by a config file (config.yaml: the paper's study; configs/tiny.yaml:
# the offline tiny grid); every stage lives in its own file under workflow/rules/.

from snakemake.utils import min_version

min_version("9.19")


# config.yaml beside this file is the default study; `--configfile other.yaml` replaces it
# (rather than being merged into it).
if not workflow.overwrite_configfiles:

    configfile: f"{workflow.basedir}/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/preflight.smk"
include: "workflow/rules/tiny.smk"
include: "workflow/rules/instructions.smk"
include: "workflow/rules/generate.smk"
include: "workflow/rules/reward.smk"
include: "workflow/rules/compatibility.smk"
include: "workflow/rules/finetune.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/screen.smk"
include: "workflow/rules/onerror.smk"


rule all:
    default_target: True
    input:
        P.report_outputs(),
        export_outputs(),
