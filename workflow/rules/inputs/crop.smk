# Input functions and constants of crop.smk's rules (Snakemake's lint keeps functions
# out of files with rules).


def preprocessed(patients):
    return expand(paths.CROPS, patient=patients) + expand(
        "results/qc/{patient}.png", patient=patients
    )


CROP_SETTINGS = derived.as_json(derived.crop_settings(config))
