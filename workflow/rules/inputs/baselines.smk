# Input functions and constants of baselines.smk's rules (Snakemake's lint keeps functions
# out of files with rules).


BASELINES = config["baselines"]["methods"]


FUSION = config["fusion"]["components"]


IMAGE_BASELINES = derived.image_baselines(config)


def patients_inputs(patients, clinical=None, features=None, deep=None):
    """Features (radiomics and the rest, deep features) and clinical values of `patients`,
    those the configured methods read (`clinical`, `features`, `deep`: whether each is read;
    by default, clinical values when the clinical baseline or the fusion's stack reads them,
    features when an image baseline does, deep features when deep_features is a baseline).
    """
    if clinical is None:
        clinical = derived.reads_clinical(config)
    if features is None:
        features = bool(IMAGE_BASELINES)
    if deep is None:
        deep = derived.reads_deep_features(config)
    return {
        "features": expand(paths.FEATURES, patient=patients if features else [])
        + expand(paths.DEEP_FEATURES, patient=patients if deep else []),
        "clinical": expand(paths.CLINICAL, patient=patients if clinical else []),
    }


FEATURE_SETTINGS = derived.as_json(derived.feature_settings(config))
BASELINE_SETTINGS = derived.as_json(derived.baseline_settings(config))
DEEP_FEATURE_SETTINGS = derived.as_json(derived.deep_feature_settings(config))


def fold_inputs(wildcards):
    """Features (and clinical values) of the patients of the fold's repeat: the baseline fits
    on its training patients and scores its validation patients."""
    patients = of_repeat(fold_table(), int(wildcards.fold)).patient_id
    return patients_inputs(patients, clinical="clinical" in BASELINES)


def clinical_values(wildcards):
    """The patient's clinical cells (text, '' = missing) of the config's `clinical` columns,
    as sorted JSON."""
    row = ROWS[wildcards.patient]
    return json.dumps({name: row[name] for name in config["clinical"]}, sort_keys=True)
