# Input functions and constants of fusion.smk's rules (Snakemake's lint keeps functions
# out of files with rules).


# predict_with fusion or auto: egfrmet deploy fits them on every cross-validation patient, and
# predict reads the new patients' features and clinical values too.
DEPLOYED = methods.deployed(config["train"]["predict_with"])


# The fused model (egfrmet.baselines.fusion): its settings and a fold's inputs.
FUSION_SETTINGS = derived.fusion_settings(config)


def fusion_network(wildcards):
    """The fold's outer and inner validation scores of the network, when `last` is a candidate."""
    if not FUSION_SETTINGS["network"]:
        return {"outer": [], "inner": []}
    fold = wildcards.fold
    return {
        "outer": f"results/models/fold{fold}/val_slices.csv",
        "inner": expand(
            "results/models/fold{fold}/inner{inner}/val_slices.csv",
            fold=fold,
            inner=INNER_FOLDS,
        ),
    }


def fusion_inputs(wildcards):
    """The baselines' inputs (to refit them on the inner folds), their scores of the fold's
    validation patients, and the clinical values when the stack reads them too."""
    patients = of_repeat(fold_table(), int(wildcards.fold)).patient_id
    scores = [f"results/baselines/fold{wildcards.fold}.csv"] if BASELINES else []
    return patients_inputs(patients) | {"baselines": scores}


def deploy_inputs(wildcards=None):
    """The cross-validation patients' features and clinical values (the baselines refit)."""
    return patients_inputs(TRAINING)
