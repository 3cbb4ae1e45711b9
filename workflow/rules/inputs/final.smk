# Input functions and constants of final.smk's rules (Snakemake's lint keeps functions
# out of files with rules).


def first_repeat_choices(wildcards=None):
    """The inner folds' choices of the first repeat's folds, for the final model."""
    return expand(
        "results/models/fold{fold}/inner_choice.json",
        fold=FOLDS[: len(FOLDS) // config["folds"]["repeats"]],
    )
