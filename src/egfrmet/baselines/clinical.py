"""Clinical variables from the sample sheet (the config's `clinical: {column: kind}`): one
small file per patient, and how a model turns them into numbers.

Kinds: numeric (standardised), binary and categorical (one-hot; a level never seen in the
training patients counts as none of the known ones). Empty cells are missing: numeric ones
take the training patients' median, others their most frequent level, each with a missing
indicator, so a fit on a fold's training patients learns nothing from anyone else.
"""

import json
import logging

import numpy as np
import pandas as pd

from egfrmet.arguments import PATIENT, command, required, settings
from egfrmet.errors import InputError
from egfrmet.io.files import atomic_output

log = logging.getLogger(__name__)


@command(
    "write one patient's clinical values (the config's clinical columns of the sheet)",
    PATIENT,
    (["--values"], {"type": settings, "required": True, "help": "{column: cell} (text; '' = missing), as JSON"}),
    (["--kinds"], {"type": settings, "required": True, "help": "{column: kind}, the config's clinical section"}),
    required("--out", "clinical values to write (.json)"),
)
def write(patient, *, values, kinds, out):
    """results/clinical/<patient>.json: the patient's cells (text, '' = missing) and the kinds.
    The `egfrmet clinical` subcommand: a light one, no scikit-learn imported."""
    record = {"patient_id": patient, "kinds": kinds, "values": {name: values[name] for name in kinds}}
    with atomic_output(out) as tmp:
        tmp.write_text(json.dumps(record, indent=2, sort_keys=True), encoding="utf-8")
    missing = [name for name, cell in record["values"].items() if cell == ""]
    log.info("patient %s: %d clinical values, missing: %s", patient, len(kinds), ", ".join(missing) or "none")


def read(paths):
    """(table indexed by patient_id, one column per variable, numbers as floats and missing as
    NaN; kinds) from the patients' files."""
    records = [json.loads(open(path, encoding="utf-8").read()) for path in paths]
    kinds = records[0]["kinds"] if records else {}
    for path, record in zip(paths, records):
        if record["kinds"] != kinds:
            raise InputError(f"clinical kinds {record['kinds']} differ from {kinds}", path=path)
    table = pd.DataFrame([r["values"] for r in records], index=[r["patient_id"] for r in records], columns=list(kinds))
    table.index.name = "patient_id"
    return typed(table, kinds), kinds


def typed(table, kinds):
    """Numeric columns as floats, the others as text; empty cells as NaN."""
    out = table.replace("", np.nan)
    for name, kind in kinds.items():
        out[name] = out[name].astype(float) if kind == "numeric" else out[name].astype(object)
    return out


def design(kinds):
    """The transformer from a clinical table to a model's inputs (fitted on training patients)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [name for name, kind in kinds.items() if kind == "numeric"]
    levels = [name for name, kind in kinds.items() if kind != "numeric"]
    parts = []
    if numeric:
        parts.append(
            ("numeric", make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler()), numeric)
        )
    if levels:
        encoder = OneHotEncoder(handle_unknown="ignore", drop=None, sparse_output=False)
        imputer = SimpleImputer(strategy="most_frequent", add_indicator=True, missing_values=np.nan)
        parts.append(("levels", make_pipeline(imputer, encoder), levels))
    return ColumnTransformer(parts)
