# Input functions and constants of normalise.smk's rules (Snakemake's lint keeps functions
# out of files with rules).


BRAIN_MASK_SETTINGS = derived.as_json(derived.brain_mask_settings(config))


def brain_mask_settings(wildcards):
    """Settings of the computed brain mask; none for a patient who brings one, so that
    changing them re-runs only the patients whose mask is computed."""
    return "{}" if ROWS[wildcards.patient]["brain_mask"] else BRAIN_MASK_SETTINGS


def patient_masks(wildcards):
    """The sheet's lesion mask, and its brain mask when it gives one (else the workflow
    computes it), as named inputs for unpack(); an RTSTRUCT's or SEG's placed on the T1c.
    """
    patient = wildcards.patient
    brain = ROWS[patient]["brain_mask"]
    return {
        "mask": mask_file(patient, "mask"),
        "brain_mask": [mask_file(patient, "brain_mask")] if brain else [],
    }
