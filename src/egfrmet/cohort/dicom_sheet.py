"""`egfrmet dicom-sheet`: a sample sheet proposed from a DICOM export, and a review table of
every series with why it was or was not picked.

Headers only: each file's series UID (a few tags), then one file's header per series. For
each patient, the T1c is the MR series with contrast given, T1-weighted, a volume (not a
localiser), 3-D acquisitions first, then the thinnest slices; where an RTSTRUCT or SEG of
the patient references one of the candidates, that one (and the mask) is taken. A patient
whose best candidates tie, who has no T1c or (with --need-mask) no mask of it, or lacks a
sequence asked for, is flagged in the review table and left out of the sheet: never guessed.
"""

import logging
import os
import re
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pydicom
from pydicom.errors import InvalidDicomError

from egfrmet.arguments import command, optional, required
from egfrmet.errors import InputError
from egfrmet.io import dicom
from egfrmet.io.files import atomic_output

log = logging.getLogger(__name__)

LOCALISER = re.compile(r"loc|scout|survey|3.?plane|aahead", re.I)
CONTRAST = re.compile(r"\+\s*c\b|post|gad|\bgd\b|contrast|\bce\b|\bkm\b|mprage.*\+", re.I)
T1 = re.compile(r"t1|mprage|spgr|bravo|vibe|tfe|flash", re.I)
PATTERNS = {"flair": re.compile(r"flair|\bdark.?fluid", re.I), "t2": re.compile(r"t2(?!\*)(?!.*flair)|\bt2w", re.I)}
NOT_STRUCTURAL = re.compile(r"dwi|diff|adc|trace|swi|t2\*|perf|dsc|dce|asl|bold|mip|subtract", re.I)
MIN_SLICES = 10  # fewer files: a localiser or a single-slice series, not a volume


def series_of(export):
    """{series UID: [files]} of every DICOM file under `export` (a few tags per file)."""
    found = defaultdict(list)
    for path in sorted(Path(export).rglob("*")):
        if not path.is_file():
            continue
        try:
            header = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SeriesInstanceUID"])
        except (InvalidDicomError, OSError, ValueError):
            continue
        if "SeriesInstanceUID" in header:
            found[str(header.SeriesInstanceUID)].append(path)
    return found


def describe(uid, files):
    """One series as the review table shows it (one file's header read)."""
    header = pydicom.dcmread(files[0], stop_before_pixels=True)
    kind = dicom.KINDS.get(str(header.get("SOPClassUID", "")), "")
    folders = {f.parent for f in files}
    return {
        "patient_id": str(header.get("PatientID", "")),
        "study_uid": str(header.get("StudyInstanceUID", "")),
        "series_uid": uid,
        "modality": kind or str(header.get("Modality", "")),
        "description": str(header.get("SeriesDescription", "")),
        "files": len(files),
        "slice_mm": float(header.get("SliceThickness", 0) or 0),
        "acquisition": str(header.get("MRAcquisitionType", "")),
        "contrast_agent": str(header.get("ContrastBolusAgent", "")),
        "image_type": "\\".join(header.get("ImageType", [])),
        "path": str(files[0] if kind else (folders.pop() if len(folders) == 1 else files[0].parent)),
        "references": ";".join(sorted(dicom.referenced_series(header))) if kind else "",
    }


def t1c_reason(row):
    """Why a series is not a T1c candidate, or '' when it is one."""
    text = f"{row['description']} {row['image_type']}"
    if row["modality"] != "MR":
        return f"not MR ({row['modality']})"
    if LOCALISER.search(text) or "LOCALIZER" in row["image_type"].upper():
        return "a localiser"
    if row["files"] < MIN_SLICES:
        return f"{row['files']} files: not a volume"
    if NOT_STRUCTURAL.search(row["description"]) or any(p.search(row["description"]) for p in PATTERNS.values()):
        return "another contrast (its description)"
    if not (row["contrast_agent"] or CONTRAST.search(row["description"])):
        return "no contrast agent (tag or description)"
    if not T1.search(row["description"]) and row["acquisition"] != "3D":
        return "not T1-weighted by its description"
    return ""


def rank(row):
    """Better T1c candidates sort first: 3-D, then thin slices."""
    return (row["acquisition"] != "3D", row["slice_mm"] or 99.0)


def pick_patient(rows, sequences, need_mask):
    """(chosen {column: row}, {series UID: (role, reason)}, problem or '') for one patient."""
    notes = {}
    masks = [r for r in rows if r["modality"] in dicom.KINDS.values()]
    candidates = []
    for row in rows:
        if row in masks:
            continue
        reason = t1c_reason(row)
        notes[row["series_uid"]] = ("", reason) if reason else ("candidate", "")
        if not reason:
            candidates.append(row)
    drawn_on = [c for c in candidates if any(c["series_uid"] in m["references"].split(";") for m in masks)]
    pool = drawn_on or candidates
    if not pool:
        return {}, notes, "no T1c: no MR volume with contrast, T1-weighted"
    pool = sorted(pool, key=rank)
    if len(pool) > 1 and rank(pool[0]) == rank(pool[1]):
        tied = ", ".join(f"{r['description']!r} ({r['series_uid']})" for r in pool[:2])
        for row in pool:
            notes[row["series_uid"]] = ("ambiguous", f"ties with another T1c candidate: {tied}")
        return {}, notes, f"ambiguous T1c: {tied}"
    t1c = pool[0]
    why = "a mask references it" if drawn_on else "best T1c candidate (3-D, thinnest slices)"
    for row in candidates:
        notes[row["series_uid"]] = ("", f"a T1c candidate, behind {t1c['series_uid']} ({why})")
    notes[t1c["series_uid"]] = ("image", why)
    chosen = {"image": t1c}
    mask = [m for m in masks if t1c["series_uid"] in m["references"].split(";")]
    for m in masks:
        notes[m["series_uid"]] = ("mask", "references the T1c") if m in mask[:1] else ("", "references another series")
    if mask:
        chosen["mask"] = mask[0]
    elif need_mask:
        return {}, notes, "no RTSTRUCT or SEG references the T1c"
    for name in sequences:
        found = [r for r in rows if r["study_uid"] == t1c["study_uid"] and r["modality"] == "MR"
                 and PATTERNS[name].search(r["description"]) and r["files"] >= MIN_SLICES]  # fmt: skip
        found = sorted(found, key=lambda r: r["slice_mm"] or 99.0)
        if not found:
            return {}, notes, f"no {name} series in the T1c's study"
        chosen[name] = found[0]
        notes[found[0]["series_uid"]] = (name, f"{name} of the T1c's study (thinnest)")
    return chosen, notes, ""


def sheet_row(patient, chosen, base, values):
    row = {
        "patient_id": patient,
        "image": rel(chosen["image"]["path"], base),
        "series_uid": chosen["image"]["series_uid"],
    }
    row["mask"] = rel(chosen["mask"]["path"], base) if "mask" in chosen else ""
    for name, series in chosen.items():
        if name not in ("image", "mask"):
            row[name], row[f"{name}_series_uid"] = rel(series["path"], base), series["series_uid"]
    return row | values.get(patient, {})


def rel(path, base):
    return os.path.relpath(path, base)


def read_values(path):
    """{patient_id: {column: value}} from a TSV of labels and clinical columns, or {}."""
    if not path:
        return {}
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    if "patient_id" not in table:
        raise InputError("the values table needs a patient_id column", path=path)
    return table.set_index("patient_id").to_dict("index")


@command(
    "propose a sample sheet from a DICOM export (headers only), with a review table of every series",
    required("--export", "the export's folder (searched recursively)"),
    required("--out", "sample sheet to write (.tsv)"),
    optional("--review", "review table to write (.tsv; default: beside the sheet, <name>_review.tsv)"),
    (["--sequences"], {"nargs": "*", "default": [], "choices": sorted(PATTERNS), "help": "further sequences to find"}),
    optional("--values", "a TSV of patient_id and the label and clinical columns to copy into the sheet"),
    (["--need-mask"], {"action": "store_true", "help": "leave out a patient whose T1c no RTSTRUCT or SEG references"}),
)
def run(*, export, out, review, sequences=(), values="", need_mask=False):
    """The `egfrmet dicom-sheet` subcommand."""
    if not Path(export).is_dir():
        raise InputError("no such folder", path=export)
    table = [describe(uid, files) for uid, files in series_of(export).items()]
    if not table:
        raise InputError("no DICOM file found", path=export)
    by_patient = defaultdict(list)
    for row in table:
        by_patient[row["patient_id"]].append(row)
    base, extra, rows = Path(out).resolve().parent, read_values(values), []
    for patient, series in sorted(by_patient.items()):
        chosen, notes, problem = pick_patient(series, sequences, need_mask)
        for row in series:
            row["role"], row["reason"] = notes.get(row["series_uid"], ("", ""))
            row["patient_status"] = problem or "in the sheet"
        if chosen:
            rows.append(sheet_row(patient, chosen, base, extra))
        else:
            log.warning("patient %s left out: %s", patient, problem)
    review = review or str(Path(out).with_name(Path(out).stem + "_review.tsv"))
    with atomic_output(review) as tmp:
        pd.DataFrame(table).sort_values(["patient_id", "study_uid", "series_uid"]).to_csv(tmp, sep="\t", index=False)
    with atomic_output(out) as tmp:
        pd.DataFrame(rows).to_csv(tmp, sep="\t", index=False)
    log.info("%d of %d patients in %s; every series in %s", len(rows), len(by_patient), out, review)
