# Input functions and constants of synth.smk's rules (Snakemake's lint keeps functions
# out of files with rules).


SYNTH_DIR = os.path.join(os.path.dirname(config["samples"]), "synth")


def synth_label(wildcards):
    return int(ROWS[wildcards.patient]["label"])


def synth_center(wildcards):
    return ROWS[wildcards.patient]["center"] or "A"


def synth_settings(wildcards):
    """synth.patient as sorted JSON, with the centre's scanner (synth.scanners) where it has
    one: the other centres' params stay as they were."""
    scanner = config["synth"].get("scanners", {}).get(synth_center(wildcards))
    patient = config["synth"]["patient"] | ({"scanner": scanner} if scanner else {})
    return json.dumps(patient, sort_keys=True)
