# Input functions and constants of train.smk's rules (Snakemake's lint keeps functions
# out of files with rules).


INNER_FOLDS = (
    list(range(config["train"]["inner"]["k"]))
    if derived.inner_trainings(config)
    else []
)


INNER_CV = "inner_cv" in config["train"]["select"]


ENSEMBLE = "inner_ensemble" in config["train"]["select"]


def training_crops(wildcards=None):
    return expand(NETWORK_CROPS, patient=TRAINING)


def outer_training_crops(wildcards):
    """Crops of the patients an inner training may read: the fold's training patients."""
    table = of_repeat(fold_table(), int(wildcards.fold))
    patients = table.patient_id[table.fold != int(wildcards.fold)]
    return expand(NETWORK_CROPS, patient=patients)


def inner_choice(wildcards):
    """The inner folds' choice, for an outer training when inner_cv is a selection."""
    return (
        {"choice": f"results/models/fold{wildcards.fold}/inner_choice.json"}
        if INNER_CV
        else {}
    )


def choice_option(wildcards):
    return (
        f"--choice results/models/fold{wildcards.fold}/inner_choice.json"
        if INNER_CV
        else ""
    )
