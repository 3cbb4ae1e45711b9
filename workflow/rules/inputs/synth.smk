# Input functions and constants of synth.smk's rules (Snakemake's lint keeps functions
# out of files with rules).


SYNTH_DIR = os.path.join(os.path.dirname(config["samples"]), "synth")


def synth_label(wildcards):
    return int(ROWS[wildcards.patient]["label"])


def synth_center(wildcards):
    return ROWS[wildcards.patient]["center"] or "A"
