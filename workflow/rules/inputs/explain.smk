# Input functions and constants of explain.smk's rules (Snakemake's lint keeps functions
# out of files with rules).


# Grad-CAM explains each fold's model.pt: the selection whose model that is.
EXPLAINED_SELECTION = outer_model_selection(
    config["train"]["select"], config["train"]["predict_with"]
)


def explained_patients():
    """{fold: the patients it validated} for the first repeat's folds, each one Grad-CAM
    rule; empty when the folds cannot be assigned (a run that needs them then stops with the
    folds' own error, explained_folds)."""
    if not (TRAINING and config["explain"]["enabled"]):
        return {}
    try:
        table = of_repeat(fold_table(), 0)  # the first repeat's folds start at 0
    except InputError:
        return {}
    return {int(f): list(part.patient_id) for f, part in table.groupby("fold")}


EXPLAINED = explained_patients()


def explained_crops(wildcards):
    """The crops of the patients fold `fold` validated (first repeat)."""
    patients = EXPLAINED[int(wildcards.fold)]
    return expand(NETWORK_CROPS, patient=patients)


def explained_folds(wildcards):
    fold_table()  # infeasible folds: their error, rather than a missing rule's
    return expand("results/explain/fold{fold}", fold=EXPLAINED)
