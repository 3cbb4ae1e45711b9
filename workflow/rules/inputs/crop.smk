# Input functions and constants of crop.smk's rules (Snakemake's lint keeps functions
# out of files with rules).


def preprocessed(patients):
    """Each patient's crops and QC picture, and with registration each sequence's alignment picture."""
    aligned = [
        f"results/qc/alignment/{sequence}/{patient}.png"
        for patient in patients
        for sequence in (SEQUENCES if REGISTRATION else [])
        if ROWS[patient][sequence]
    ]
    return (
        expand(paths.CROPS, patient=patients)
        + expand("results/qc/{patient}.png", patient=patients)
        + (
            expand(NETWORK_CROPS, patient=patients)
            if NETWORK_CROPS != paths.CROPS
            else []
        )
        + aligned
    )


CROP_SETTINGS = derived.as_json(derived.crop_settings(config))
LESION_CROP_SETTINGS = derived.as_json(derived.lesion_crop_settings(config))
