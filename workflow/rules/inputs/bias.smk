# Input functions and constants of bias.smk's rules (Snakemake's lint keeps functions
# out of files with rules).


def patient_sequence(wildcards):
    return ROWS[wildcards.patient][wildcards.sequence]
