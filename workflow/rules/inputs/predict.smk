# Input functions and constants of predict.smk's rules (Snakemake's lint keeps functions
# out of files with rules).


# Stage settings derived from config, shared with `egfrmet scan` (egfrmet.config.settings).
INFERENCE_SETTINGS = derived.as_json(derived.inference_settings(config))


# The settings that made this run's inputs: predict refuses a bundle made with others.
LOCKED_SETTINGS = derived.as_json(derived.locked_settings(config))


# The external cohorts with patients of both classes: their own figures (egfrmet external).
EXTERNAL_COHORTS = sorted(
    cohort
    for cohort in set(EXTERNAL.values())
    if len({int(SHEET.label[p]) for p, c in EXTERNAL.items() if c == cohort}) == 2
)


def prediction_models(wildcards=None):
    """Whose models score new patients: train.predict_with's fold models, or for
    inner_ensemble every fold's inner models."""
    template = paths.prediction_models(config["train"]["predict_with"])
    inner = {"inner": INNER_FOLDS} if "{inner}" in template else {}
    return expand(template, fold=FOLDS, **inner)


def prediction_crops(wildcards=None):
    return expand(NETWORK_CROPS, patient=PREDICTING)


def prediction_patients():
    """patient_id -> [label or None, cohort], as sorted JSON for `egfrmet predict --patients`."""
    rows = SHEET.loc[PREDICTING]
    return json.dumps(
        {
            p: [None if pd.isna(label) else int(label), EXTERNAL.get(p, cohort)]
            for p, label, cohort in zip(rows.index, rows.label, rows.cohort)
        },
        sort_keys=True,
    )


def prediction_extras(wildcards=None):
    """The new patients' features and clinical values, where the shipped method may read
    them: a bundle's needs, or in a training run whatever fusion or auto may pick."""
    if BUNDLE:
        needs = BUNDLE_MANIFEST["needs"]
        return patients_inputs(
            PREDICTING,
            clinical=needs["clinical"],
            features=needs["features"],
            deep=needs.get("deep_features", False),  # bundles from before deep features
        )
    return patients_inputs(PREDICTING if DEPLOYED else [])


def summary_inputs(wildcards=None):
    """The cross-validation's rows (a training run) and the external cohorts' rows; what
    ships, where deploy chose it."""
    return {
        "cross_validation": (
            ["results/evaluation/cross_validation.csv"] if TRAINING else []
        ),
        "external": ["results/evaluation/external.csv"] if EXTERNAL_COHORTS else [],
        "deployed": [paths.DEPLOYED] if DEPLOYED and TRAINING else [],
    }
