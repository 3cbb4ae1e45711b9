# Input functions and constants of ensemble.smk's rules (Snakemake's lint keeps functions
# out of files with rules).


def inner_models(wildcards):
    """One fold's inner models, each at its own best inner-validation epoch."""
    return expand(
        "results/models/fold{fold}/inner{inner}/model.pt",
        fold=wildcards.fold,
        inner=INNER_FOLDS,
    )


def outer_validation_crops(wildcards):
    """Crops of one fold's validation patients, which the inner ensemble scores."""
    table = fold_table()
    patients = table.patient_id[table.fold == int(wildcards.fold)]
    return expand(NETWORK_CROPS, patient=patients)
