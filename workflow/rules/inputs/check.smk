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
            series_uids={c: row[series_column(c)] for c in ["image", *SEQUENCES]},
            sequences=SEQUENCES,
            resample=derived.resamples(config),
            rois=MASK_ROIS,
        )


# The ROI each mask column takes from an RTSTRUCT or SEG file.
MASK_ROIS = {
    column: config["dicom"][f"{column}_roi"] for column in ("mask", "brain_mask")
}
check_files_at_parse_time()
# Masks kept as RTSTRUCT or SEG files, {(patient, column)}: the dicom_mask rule places each
# on its T1c's grid, and every later rule reads that file instead.
DICOM_MASKS = {
    (patient, column)
    for patient, row in ROWS.items()
    for column in MASK_ROIS
    if row[column] and mask_kind(row[column])
}


def mask_file(patient, column):
    """The mask a patient's rules read: the sheet's file, or the dicom_mask rule's."""
    if (patient, column) in DICOM_MASKS:
        return paths.DICOM_MASK.format(column=column, patient=patient)
    return ROWS[patient][column]


def patient_image(wildcards):
    return ROWS[wildcards.patient]["image"]


def dicom_mask_file(wildcards):
    return ROWS[wildcards.patient][wildcards.column]


def dicom_roi(wildcards):
    return MASK_ROIS[wildcards.column]


# Options the preprocessing rules share (check, N4, normalise, crop, features: all below).
MASK_LABELS = " ".join(str(v) for v in config["preprocess"]["mask_labels"])


def sequence_files(folder):
    """An input function: one patient's further sequences under results/<folder>/<name>/,
    in inputs.sequences' order (the order the commands pair them with the names), those
    the patient has (inputs.missing: allow; with_absent tells the commands the others).
    """

    def files(wildcards):
        row = ROWS[wildcards.patient]
        return [
            f"results/{folder}/{name}/{wildcards.patient}.nii.gz"
            for name in SEQUENCES
            if row[name]
        ]

    return files


def series_option(wildcards):
    """`--series-uid UID` for a patient whose T1c folder holds several series."""
    uid = ROWS[wildcards.patient]["series_uid"]  # digits and dots: the sheet's checks
    return f"--series-uid {uid}" if uid else ""


def check_series_option(wildcards):
    """The T1c's `--series-uid`, and `--sequence-series NAME UID` for each further
    sequence read from a folder of several series."""
    row = ROWS[wildcards.patient]
    named = [(name, row[series_column(name)]) for name in SEQUENCES]
    sequences = [f"--sequence-series {name} {uid}" for name, uid in named if uid]
    return " ".join([series_option(wildcards), *sequences]).strip()


def sequence_options(wildcards):
    """bias-sequence's `--resample`, `--series-uid` (the sequence's) and
    `--reference-series-uid` (the T1c's)."""
    row = ROWS[wildcards.patient]
    reference = "" if REGISTRATION else row["series_uid"]
    uids = {
        "series-uid": row[series_column(wildcards.sequence)],
        "reference-series-uid": reference,
    }
    named = [f"--{flag} {uid}" for flag, uid in uids.items() if uid]
    return " ".join([*named, RESAMPLE_OPTION, REGISTER_OPTION]).strip()


RESAMPLE_OPTION = "--resample" if derived.resamples(config) else ""
REGISTRATION = derived.registration_settings(config)
# bias-sequence registers onto the corrected T1c (a file: no series to name)
REGISTER_OPTION = (
    f"--register {shlex.quote(derived.as_json(REGISTRATION))}" if REGISTRATION else ""
)


# Only sheets that name a series pay for a param function in every check and bias job.
NAMES_SERIES = any(
    SHEET[c].any() for c in ["series_uid", *map(series_column, SEQUENCES)]
)
SERIES_OPTION = series_option if NAMES_SERIES else ""
CHECK_SERIES_OPTION = check_series_option if NAMES_SERIES else ""
SEQUENCE_OPTIONS = (
    sequence_options if NAMES_SERIES else f"{RESAMPLE_OPTION} {REGISTER_OPTION}".strip()
)


def brain_mask_option(wildcards):
    """`--brain-mask PATH` (quoted) for a patient with a brain mask, else nothing."""
    path = ROWS[wildcards.patient]["brain_mask"]
    return (
        f"--brain-mask {shlex.quote(mask_file(wildcards.patient, 'brain_mask'))}"
        if path
        else ""
    )


def patient_files(wildcards):
    """Every file of the patient's sheet row the check reads, as named inputs."""
    row = ROWS[wildcards.patient]
    sequences = {f"sequence_{name}": row[name] for name in SEQUENCES if row[name]}
    return patient_masks(wildcards) | {"image": patient_image(wildcards)} | sequences


def sheet_sequence_options(wildcards):
    """`--sequence NAME PATH` of the sheet's own files, for the check."""
    row = ROWS[wildcards.patient]
    return " ".join(
        f"--sequence {name} {shlex.quote(row[name])}" for name in SEQUENCES if row[name]
    )


def with_absent(settings):
    """A stage's settings param (JSON) for each patient: with "absent", the sequences the
    patient lacks, where it lacks some (inputs.missing: allow); for a complete patient the
    stage's own text, so that one patient's empty cell changes no other patient's param.
    """
    if not derived.allows_missing(config):
        return settings

    def param(wildcards):
        row = ROWS[wildcards.patient]
        absent = derived.absent_sequences(config, [n for n in SEQUENCES if row[n]])
        return derived.as_json(json.loads(settings) | absent) if absent else settings

    return param
