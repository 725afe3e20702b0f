# New bases screened against every teacher without fine-tuning (config `screen`): each job
# scores its base's losses on the teachers' responses in growing random rounds of instructions
# until the ranking by CAR is settled or its budget is spent (teachergrid/screening/rounds.py).


rule screen_base:
    input:
        responses=expand(L.RESPONSES, teacher=SCREEN_TEACHERS),
        rewards=expand(
            L.REWARDS, teacher=SCREEN_TEACHERS, rm=[CFG["car"]["reward_model"]]
        ),
        model=lambda wc: model_input(SCREEN_BASES[wc.screen]),
    output:
        directory(L.SCREEN),
    log:
        L.LOGS["screen_base"],
    benchmark:
        f"{R}/benchmarks/screen/{{screen}}.tsv"
    conda:
        "../../envs/training.yaml"
    threads: cores(lambda wc: RESOURCES["screen"][wc.screen])
    resources:
        **scheduler(lambda wc: RESOURCES["screen"][wc.screen]),
    params:
        base=lambda wc: tracked(SCREEN_BASES[wc.screen]),
        base_ops=lambda wc: untracked(SCREEN_BASES[wc.screen]),
        model=lambda wc: model_dir(SCREEN_BASES[wc.screen]),
        settings=P.screen_settings(),
        teachers=SCREEN_TEACHERS,
        root=lambda wc: R,
    script:
        "../scripts/screen_base.py"


# `snakemake screen_bases`: every new base of the config's `screen` section
rule screen_bases:
    input:
        expand(L.SCREEN, screen=SCREEN_BASES),
    localrule: True


# `snakemake screen_teachers`: what `teachergrid screen` reads, the screened teachers' responses
# and CAR's reward scores of them (for published teachers, read from the data set on the host)
rule screen_teachers:
    input:
        rules.screen_base.input.responses,
        rules.screen_base.input.rewards,
    localrule: True
