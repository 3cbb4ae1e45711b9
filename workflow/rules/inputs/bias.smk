# Input functions and constants of bias.smk's rules (Snakemake's lint keeps functions
# out of files with rules).


def patient_sequence(wildcards):
    return ROWS[wildcards.patient][wildcards.sequence]


def sequence_reference(wildcards):
    """What a sequence is put onto: the T1c, or with registration the corrected T1c (the
    registration compares images without their bias fields)."""
    if REGISTRATION:
        return f"results/bias/{wildcards.patient}.nii.gz"
    return patient_image(wildcards)
