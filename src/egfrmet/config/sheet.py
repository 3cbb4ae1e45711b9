"""The sample sheet: read, checked against its JSON schema (egfrmet.config.schema), with
errors that name the patient, the column and the file."""

import os
import re
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd

from egfrmet.errors import InputError

PATH_COLUMNS = ("image", "mask", "brain_mask")


def series_column(column):
    """The sheet column naming the DICOM series of an image column (the T1c's: series_uid;
    a further sequence's, e.g. t2: t2_series_uid)."""
    return "series_uid" if column == "image" else f"{column}_series_uid"


DEFAULT_COHORT = "test"  # the cohort of labelled split-test rows that name none


def read_sheet(path, schema, *, clinical=None, sequences=(), strict=True, allow_missing=False):
    """The sheet as a DataFrame indexed by patient_id, paths resolved against its folder.

    Columns: image, series_uid, mask, brain_mask ('' when absent), label (0, 1 or <NA>), split
    ('cv' or 'test'), center ('' when absent), fold (pinned fold or <NA>); then each of
    `sequences` (the config's inputs.sequences: further image columns, paths resolved) and
    the optional series column of each (series_column: '' when absent), and each column of
    `clinical` (the config's clinical: {column: kind}), as text ('' when empty). Any other
    column is refused, unless `strict` is false (it is then dropped). An empty sequence cell
    is refused unless `allow_missing` (inputs.missing: allow).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("sample sheet not found", path=path)
    clinical, sequences = dict(clinical or {}), list(sequences)
    raw = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, comment=None)
    raw.columns = [c.strip() for c in raw.columns]
    raw = raw.apply(lambda column: column.str.strip())
    declared = [*sequences, *clinical]
    series = [series_column(c) for c in sequences]
    kept = raw if strict else raw[[c for c in raw.columns if c in schema["properties"]]]
    check_columns(kept, schema, path, declared, optional=series)
    if raw.empty:
        raise InputError("sample sheet lists no patient", path=path)
    validator = jsonschema.Draft202012Validator(schema)  # built once: sheets can be long
    for number, row in enumerate(raw.to_dict("records"), start=2):
        check_row({k: v for k, v in row.items() if k in schema["properties"]}, validator, path, number)
        check_declared(row, sequences, clinical, path, number, allow_missing, schema["properties"]["series_uid"])
    check_unique(raw, path)
    check_binary(raw, clinical, path)

    sheet = raw.set_index("patient_id", drop=False)
    for column in [*PATH_COLUMNS, *sequences]:
        cells = sheet[column] if column in sheet else pd.Series("", index=sheet.index)
        sheet[column] = [resolve(cell, path.parent) for cell in cells]
    sheet["label"] = pd.array([int(v) if v else None for v in column_or_empty(sheet, "label")], dtype="Int64")
    cohorts = column_or_empty(sheet, "cohort")
    check_cohorts(sheet, cohorts, path)
    sheet["split"] = [v or ("test" if cohort else "cv") for v, cohort in zip(column_or_empty(sheet, "split"), cohorts)]
    sheet["cohort"] = [c or (DEFAULT_COHORT if s == "test" else "") for c, s in zip(cohorts, sheet["split"])]
    sheet["center"] = column_or_empty(sheet, "center")
    for column in ["series_uid", *series]:
        sheet[column] = column_or_empty(sheet, column)
    sheet["fold"] = pd.array([int(v) if v else None for v in column_or_empty(sheet, "fold")], dtype="Int64")
    columns = ["patient_id", *PATH_COLUMNS, "series_uid", "label", "split", "cohort", "center", "fold"]
    return sheet[[*columns, *sequences, *series, *clinical]]


def check_cohorts(sheet, cohorts, path):
    for pid, split, cohort in zip(sheet.patient_id, column_or_empty(sheet, "split"), cohorts):
        if cohort and split == "cv":
            raise InputError(
                f"cohort {cohort} with split cv: an external cohort is never trained on (leave split empty, or test)",
                patient=pid,
                column="cohort",
                path=path,
            )


def column_or_empty(frame, column):
    return list(frame[column]) if column in frame else [""] * len(frame)


def check_columns(raw, schema, path, declared=(), optional=()):
    """The sheet's own columns and the config's declared ones (further sequences, clinical
    variables), and `optional` ones (the sequences' series columns): every column known,
    every required and declared one present."""
    known = set(schema["properties"]) | set(declared) | set(optional)
    unknown = [c for c in raw.columns if c not in known]
    if unknown:
        raise InputError(
            f"unknown column(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}. "
            f"Declare a further column in the config: a clinical variable with its kind, e.g. "
            f"`clinical: {{{unknown[0]}: categorical}}` (numeric, binary or categorical), or an image "
            f"column with `inputs: {{sequences: [{unknown[0]}]}}`",
            path=path,
        )
    missing = [c for c in [*schema["required"], *declared] if c not in raw.columns]
    if missing:
        where = [c for c in missing if c in declared]
        hint = f" (named in the config: {', '.join(where)})" if where else ""
        raise InputError(f"missing required column(s) {', '.join(missing)}{hint}", path=path)


def check_declared(row, sequences, clinical, path, number, allow_missing=False, series=None):
    """A listed sequence needs a file for every patient (unless `allow_missing`) and its
    series column a UID (`series`: the schema's series_uid property); a numeric clinical
    cell a number; a binary column at most two values (checked over the whole sheet,
    check_binary)."""
    patient = row.get("patient_id") or f"on line {number}"
    for column in sequences:
        uid = row.get(series_column(column), "")
        if series and not re.fullmatch(series["pattern"], uid):
            raise InputError(
                f"line {number}: {uid!r} is not a DICOM series UID (digits and dots)",
                patient=patient,
                column=series_column(column),
                path=path,
            )
        if not row[column] and not allow_missing:
            raise InputError(
                f"line {number}: empty cell in the sequence column {column} (a listed sequence needs one per "
                "patient, unless inputs.missing: allow)",
                patient=patient,
                column=column,
                path=path,
            )
    for column, kind in clinical.items():
        cell = row[column]
        if kind == "numeric" and cell and not is_number(cell):
            raise InputError(
                f"line {number}: {cell!r} is not a number (clinical {column}: numeric; empty = missing)",
                patient=patient,
                column=column,
                path=path,
            )


def is_number(text):
    try:
        return np.isfinite(float(text))
    except ValueError:
        return False


def check_binary(raw, clinical, path):
    for column, kind in clinical.items():
        levels = sorted(set(raw[column]) - {""})
        if kind == "binary" and len(levels) > 2:
            raise InputError(
                f"clinical {column} is binary but holds {len(levels)} values ({', '.join(levels[:5])}): "
                "declare it categorical",
                column=column,
                path=path,
            )


def check_row(row, validator, path, number):
    errors = sorted(validator.iter_errors(row), key=lambda e: list(e.path))
    if errors:
        error = errors[0]
        column = error.path[0] if error.path else None
        patient = row.get("patient_id") or f"on line {number}"
        raise InputError(f"line {number}: {error.message}", patient=patient, column=column, path=path)


def check_unique(raw, path):
    counts = raw["patient_id"].value_counts()
    duplicated = counts[counts > 1]
    if len(duplicated):
        where = {pid: [i + 2 for i in raw.index[raw.patient_id == pid]] for pid in duplicated.index}
        listing = "; ".join(f"{pid} on lines {lines}" for pid, lines in where.items())
        raise InputError(f"duplicate patient_id: {listing}", column="patient_id", path=path)


def resolve(cell, folder):
    if not cell:
        return ""
    cell = os.path.expanduser(cell)
    return os.path.normpath(cell if os.path.isabs(cell) else os.path.join(folder, cell))


def training_rows(sheet):
    """Patients for cross-validation: split cv with a label."""
    return sheet[(sheet.split == "cv") & sheet.label.notna()]


def prediction_rows(sheet):
    """Patients that are never trained on: split test (an external cohort among them), or no label."""
    return sheet[(sheet.split == "test") | sheet.label.isna()]


def external_cohorts(sheet, every_row=False):
    """{patient_id: cohort} of the labelled patients a run validates its shipped model on: the
    prediction rows' (every row's with `every_row`, a run that scores with a bundle), a row
    without a cohort counting as DEFAULT_COHORT."""
    rows = sheet if every_row else prediction_rows(sheet)
    rows = rows[rows.label.notna()]
    return {pid: cohort or DEFAULT_COHORT for pid, cohort in zip(rows.patient_id, rows.cohort)}
