# egfrmet: EGFR mutation status of lung-cancer brain metastases from post-contrast T1 MRI.
# Usage: snakemake --cores all [--configfile mine.yaml]; see README.md.
import os

from snakemake.utils import min_version

min_version("9.0")


configfile: os.path.join(workflow.basedir, "config", "config.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/synth.smk"
include: "workflow/rules/check.smk"
include: "workflow/rules/bias.smk"
include: "workflow/rules/normalise.smk"
include: "workflow/rules/crop.smk"
include: "workflow/rules/folds.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/ensemble.smk"
include: "workflow/rules/final.smk"
include: "workflow/rules/baselines.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/fusion.smk"
include: "workflow/rules/explain.smk"
include: "workflow/rules/bundle.smk"
include: "workflow/rules/predict.smk"
include: "workflow/rules/model_card.smk"


# Crops and QC of everyone; cross-validation and the bundle when there are training patients;
# predictions when there are patients to predict (with `bundle:`, every patient), and the
# summary of every labelled figure. Each output name has one owner: its rule.
rule all:
    default_target: True
    input:
        preprocessed(PATIENTS),
        rules.evaluate.output if TRAINING else [],
        rules.bundle.output if TRAINING else [],
        rules.summary.output if TRAINING or EXTERNAL_COHORTS else [],
        rules.model_card.output if TRAINING else [],
        rules.predict.output if (TRAINING or BUNDLE) and PREDICTING else [],
        rules.train_final.output if TRAINING and config["train"]["final"] else [],
        rules.explain_figure.output if TRAINING and config["explain"]["enabled"] else [],
