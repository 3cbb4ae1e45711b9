# Input functions and constants of predict.smk's rules (Snakemake's lint keeps functions
# out of files with rules).


# Stage settings derived from config, shared with `egfrmet scan` (egfrmet.config.settings).
INFERENCE_SETTINGS = derived.as_json(derived.inference_settings(config))


def prediction_models(wildcards=None):
    """Whose models score new patients: train.predict_with's fold models, or for
    inner_ensemble every fold's inner models."""
    template = paths.prediction_models(config["train"]["predict_with"])
    inner = {"inner": INNER_FOLDS} if "{inner}" in template else {}
    return expand(template, fold=FOLDS, **inner)


def prediction_crops(wildcards=None):
    return expand("results/crops/{patient}.npz", patient=PREDICTING)


def prediction_patients():
    """patient_id -> label (or None), as sorted JSON for `egfrmet predict --patients`."""
    labels = SHEET.loc[PREDICTING, "label"]
    return json.dumps(
        {p: (None if pd.isna(v) else int(v)) for p, v in labels.items()}, sort_keys=True
    )


def prediction_extras(wildcards=None):
    """For predict_with fusion or auto: what deploy fitted, and the new patients' inputs
    (named inputs that are empty otherwise)."""
    inputs = patients_inputs(PREDICTING if DEPLOYED else [])
    return inputs | {"deployed": [paths.DEPLOYED] if DEPLOYED else []}
