# Input functions and constants of check.smk's rules (Snakemake's lint keeps functions
# out of files with rules).


def synthesised(path):
    return config["synth"]["enabled"] and os.path.dirname(path) == SYNTH_DIR


def check_files_at_parse_time():
    """Header checks for every patient before any job; a demo's files come from a rule."""
    if workflow.remote_exec:
        return  # the main process checked already
    try:
        from egfrmet.preprocessing.check import check_headers
    except (
        ImportError
    ) as error:  # a controller without SimpleITK: the check jobs still do it
        print(
            f"egfrmet: WARNING: no file checks before the first job ({error}); every "
            "patient's files are checked by its `check` job instead. Install the controller "
            "with `pip install -e .` or envs/cluster.yaml, which hold SimpleITK.",
            file=sys.stderr,
        )
        return
    for patient, row in ROWS.items():
        columns = [*PATH_COLUMNS, *SEQUENCES]
        paths = {c: row[c] for c in columns if not synthesised(row[c])}
        check_headers(
            patient,
            paths,
            grid_tolerance=config["preprocess"]["grid_tolerance"],
            series_uid=row["series_uid"],
            sequences=SEQUENCES,
            resample=config["inputs"]["resample"],
        )


check_files_at_parse_time()


# Options the preprocessing rules share (check, N4, normalise, crop, features: all below).
MASK_LABELS = " ".join(str(v) for v in config["preprocess"]["mask_labels"])


def sequence_files(folder):
    """An input function: one patient's further sequences under results/<folder>/<name>/,
    in inputs.sequences' order (the order the commands pair them with the names)."""

    def files(wildcards):
        return [
            f"results/{folder}/{name}/{wildcards.patient}.nii.gz" for name in SEQUENCES
        ]

    return files


def series_option(wildcards):
    """`--series-uid UID` for a patient whose DICOM folder holds several series."""
    uid = ROWS[wildcards.patient]["series_uid"]  # digits and dots: the schema's pattern
    return f"--series-uid {uid}" if uid else ""


RESAMPLE_OPTION = "--resample" if config["inputs"]["resample"] else ""


# Only sheets that name a series pay for a param function in every check and bias job.
SERIES_OPTION = series_option if SHEET["series_uid"].any() else ""


def brain_mask_option(wildcards):
    """`--brain-mask PATH` (quoted) for a patient with a brain mask, else nothing."""
    path = ROWS[wildcards.patient]["brain_mask"]
    return f"--brain-mask {shlex.quote(path)}" if path else ""


def patient_files(wildcards):
    """Every file of the patient's sheet row the check reads, as named inputs."""
    row = ROWS[wildcards.patient]
    sequences = {f"sequence_{name}": row[name] for name in SEQUENCES}
    return patient_masks(wildcards) | {"image": patient_image(wildcards)} | sequences


def sheet_sequence_options(wildcards):
    """`--sequence NAME PATH` of the sheet's own files, for the check."""
    row = ROWS[wildcards.patient]
    return " ".join(f"--sequence {name} {shlex.quote(row[name])}" for name in SEQUENCES)
