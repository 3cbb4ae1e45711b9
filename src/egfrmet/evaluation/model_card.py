"""results/evaluation/model_card.md: the items of TRIPOD+AI (Collins et al., BMJ 2024) that a
run can answer, filled from the run's own files, so that every figure in it is one of
summary.csv's and every choice is the one the run made.

What a run cannot know (how patients were recruited, how the masks were drawn, the intended
clinical setting beyond research use) is said to be the user's to add.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd

from egfrmet import methods
from egfrmet.arguments import SETTINGS, command, required
from egfrmet.baselines import clinical as clinical_inputs
from egfrmet.cohort.folds import read_folds
from egfrmet.evaluation.summary import EXTERNAL, INTERNAL
from egfrmet.io.files import atomic_output
from egfrmet.training.networks import family

OPTIMISTIC = methods.optimistic()


def cohort_lines(folds, clinical, settings):
    """Patients, positives, centres, sequences and each clinical variable's missing cells."""
    first = folds[folds.repeat == folds.repeat.min()] if "repeat" in folds else folds
    centres = first.center.replace("", "(none)").value_counts().sort_index()
    lines = [
        f"- Cross-validation patients: {len(first)}, of whom EGFR-mutant (label 1): {int(first.label.sum())} "
        f"({first.label.mean():.0%}).",
        "- Centres: " + ", ".join(f"{c} {n}" for c, n in centres.items()) + ".",
        "- Images: post-contrast T1 (T1c)"
        + "".join(f", {name}" for name in settings["sequences"])
        + " (each N4-corrected and z-scored over the brain; crops of the lesion's middle slices).",
    ]
    if "lacking" in settings:  # inputs.missing: allow
        counts = ", ".join(f"{name} {n} of {len(first)}" for name, n in settings["lacking"].items())
        lines.append(
            f"- Patients lacking a sequence (inputs.missing: allow): {counts}. The network saw a missing "
            "sequence as its mean (0) with a channel saying it was missing; radiomics imputed its features "
            "inside each training fit."
        )
    if settings["synthetic"]:
        lines.append(
            "- **The cohort is generated** (synth.enabled): figures show the workflow, not a clinical finding."
        )
    if settings["clinical"]:
        missing = clinical.isna().sum() if len(clinical) else pd.Series(dtype=int)
        cells = [
            f"{name} ({kind}, missing {int(missing.get(name, 0))} of {len(clinical)})"
            for name, kind in settings["clinical"].items()
        ]
        lines.append("- Clinical variables: " + "; ".join(cells) + ".")
    else:
        lines.append("- Clinical variables: none declared.")
    return lines


def validation_lines(folds, settings):
    scheme = settings["folds"]
    if scheme["scheme"] == "centre":
        how = f"leave-centre-out: {folds.fold.nunique()} folds, each holding out one centre (external to its training)"
    else:
        how = (
            f"{scheme['k']}-fold patient-level cross-validation, stratified by label and centre, "
            f"{scheme['repeats']} repeat(s) (seed {scheme['seed']})"
        )
    return [
        f"- Scheme: {how}. Every figure below is out-of-fold: each patient scored by models that never trained on it.",
        f"- Inside each fold's training patients: {settings['inner_k']} inner folds, for the leak-free network "
        "selections, the fusion's component scores and the choice `auto` makes.",
        f"- Intervals: {settings['ci_level']:.0%} percentile intervals of {settings['bootstrap']} stratified bootstrap "
        "resamples of the patients (positives and negatives resampled apart).",
        f"- Threshold metrics at probability {settings['threshold']}; the network scores a patient by "
        + family(settings).description.format(metric=settings["metric"])
        + f" (model.family {family(settings).name}).",
    ]


def describe(name):
    return methods.REGISTRY[name].description if name in methods.REGISTRY else ""


def internal_rows(summary):
    """summary.csv's pooled out-of-fold rows (subset all)."""
    internal = summary.validation == INTERNAL if "validation" in summary else True
    return summary[(summary.subset == "all") & internal]


def figures_table(summary, level):
    """Every method's pooled row of summary.csv (subset all): its figures, what it is, and
    whether it is optimistic."""
    rows = internal_rows(summary)
    header = ["Method", "What", f"AUC ({level:.0%} CI)", "Sensitivity", "Specificity", "Brier", "Leak-free"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows.itertuples():
        name = row.selection if row.aggregate == "patient" else f"{row.selection} ({row.aggregate})"
        leak = "no: optimistic" if row.selection in OPTIMISTIC else "yes"
        cells = [name, describe(row.selection), f"{row.auc:.2f} ({row.auc_low:.2f}–{row.auc_high:.2f})"]
        cells += [f"{row.sensitivity:.1%}", f"{row.specificity:.1%}"]
        cells += ["" if pd.isna(row.brier) else f"{row.brier:.3f}", leak]
        lines.append("| " + " | ".join(cells) + " |")
    notes = [f"- **{name}** is optimistic: {why}." for name, why in OPTIMISTIC.items() if name in set(rows.selection)]
    return lines + [""] + notes


def external_lines(summary, level):
    """Each external cohort's rows: the locked model on patients it never saw."""
    rows = summary[summary.validation == EXTERNAL] if "validation" in summary else summary.iloc[:0]
    if rows.empty:
        return ["- No labelled external cohort in this run (a sheet's `cohort` column, or `split: test` rows)."]
    header = ["Cohort", "Method", "Patients (positive)", f"AUC ({level:.0%} CI)", "Sensitivity", "Specificity"]
    header += ["Brier", "Calibration intercept", "Calibration slope"]
    lines = [
        "The model this run ships, locked (its bundle), on patients it never saw; nothing was fitted or "
        "chosen on them. Beside each, the internal out-of-fold figure above is the one to compare.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for row in rows.itertuples():
        cells = [str(row.cohort), row.selection, f"{row.n_patients} ({row.n_positive})"]
        cells += [f"{row.auc:.2f} ({row.auc_low:.2f}–{row.auc_high:.2f})"]
        cells += [f"{row.sensitivity:.1%} ({row.sensitivity_low:.1%}–{row.sensitivity_high:.1%})"]
        cells += [f"{row.specificity:.1%} ({row.specificity_low:.1%}–{row.specificity_high:.1%})"]
        cells += ["" if pd.isna(v) else f"{v:.3f}" for v in (row.brier, row.calibration_intercept)]
        cells += ["" if pd.isna(row.calibration_slope) else f"{row.calibration_slope:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "- Calibration intercept (calibration-in-the-large) 0 and slope 1 mean calibrated; a slope below 1 means "
        "over-confident probabilities. Figures per cohort: results/evaluation/external/<cohort>/.",
    ]
    return lines


def choice_lines(reports, settings):
    """What auto picked per fold, with each candidate's inner-CV AUC, and the stack's weights."""
    if not reports:
        return ["- No leak-free choice of method ran (fusion.components is empty)."]
    lines = [
        "- `auto` chose, inside each fold's training patients, the candidate of best inner-CV AUC "
        "(the leak-free scores of those patients only):",
        "",
        "| Fold | Picked | " + " | ".join(reports[0]["candidates"]) + " |",
        "|---|---|" + "---|" * len(reports[0]["candidates"]),
    ]
    for report in reports:
        aucs = " | ".join(f"{v:.2f}" for v in report["candidates"].values())
        lines.append(f"| {report['fold']} | {report['auto']} | {aucs} |")
    picks = pd.Series([r["auto"] for r in reports]).value_counts()
    lines += ["", "- Picks over the folds: " + ", ".join(f"{m} {n}" for m, n in picks.items()) + "."]
    if "fusion" in reports[0]:
        components = ", ".join(settings["fusion"]["components"])
        extra = " and the clinical variables" if settings["fusion"]["clinical_variables"] else ""
        lines.append(
            f"- `fusion` stacks {components}{extra}; chosen C per fold: "
            + ", ".join(f"{r['fusion']['C']:g}" for r in reports)
            + "."
        )
    return lines


def explanation_lines(shares):
    if shares is None or shares.empty:
        return ["- Grad-CAM was not run (explain.enabled: false)."]
    pooled = shares.median(numeric_only=True)
    return [
        f"- Grad-CAM of each patient's crops by its own fold's model ({len(shares)} patients; medians): "
        f"{pooled.cam_in_lesion:.0%} of the map's mass lies in the lesion, which covers {pooled.lesion_area:.0%} "
        f"of the crop; {pooled.cam_in_brain:.0%} lies in the brain ({pooled.brain_area:.0%} of the crop). "
        "A share above the area means the network looks there more than at random.",
    ]


def card(*, summary, folds, clinical, reports, shares, settings):
    """The model card's markdown."""
    level = settings["ci_level"]
    sections = [
        "# Model card: EGFR mutation status of brain metastases (egfrmet)",
        "",
        "Filled by the workflow from this run's results (TRIPOD+AI items a run can answer). "
        "Add what it cannot know: recruitment, how labels and masks were obtained, the clinical setting.",
        "",
        "## Intended use and outcome",
        "",
        "- Research use: an estimate of the probability that a lung-cancer brain metastasis carries an EGFR "
        "mutation, from MRI (and clinical variables where configured). Not a diagnostic device; "
        "the tissue test decides.",
        "- Outcome: the sheet's `label` (1 = EGFR-mutant, 0 = wild type), as the user's records give it.",
        "",
        "## Cohort",
        "",
        *cohort_lines(folds, clinical, settings),
        "",
        "## Validation",
        "",
        *validation_lines(folds, settings),
        "",
        "## Every method's figures (internal out-of-fold, pooled)",
        "",
        *figures_table(summary, level),
        "- Calibration: results/evaluation/calibration.png; decision curves: results/evaluation/decision_curve.png.",
        "",
        "## External validation",
        "",
        *external_lines(summary, level),
        "",
        "## What was chosen, and how",
        "",
        *choice_lines(reports, settings),
        "",
        "## The model new patients get",
        "",
        *new_patient_lines(settings),
        "",
        "## Where the network looks",
        "",
        *explanation_lines(shares),
        "",
        "## Limits",
        "",
        *limit_lines(summary, folds, settings),
        "",
    ]
    return "\n".join(sections)


def new_patient_lines(settings):
    what = settings["predict_with"]
    lines = [f"- `train.predict_with: {what}`: {describe(what)}."]
    deployed = settings.get("deployed")
    if deployed:
        aucs = ", ".join(f"{m} {v:.2f}" for m, v in deployed["oof_auc"].items())
        lines.append(
            f"- New patients get **{deployed['method']}** (of " + " + ".join(deployed["components"]) + "), refitted "
            "on every cross-validation patient" + (f"; auto's pick by out-of-fold AUC: {aucs}" if aucs else "") + "."
        )
    return lines


def limit_lines(summary, folds, settings):
    rows = internal_rows(summary)
    widest = (rows.auc_high - rows.auc_low).max() if len(rows) else np.nan
    external = "validation" in summary and (summary.validation == EXTERNAL).any()
    lines = [
        f"- Small cohort: AUC intervals up to {widest:.2f} wide; methods whose intervals overlap are not shown apart."
    ]
    if external:
        cohorts = sorted(set(summary.cohort[summary.validation == EXTERNAL]))
        lines.append(
            f"- Externally validated on {', '.join(map(str, cohorts))} only: other hospitals' scanners and protocols "
            "may give other figures."
        )
    elif settings["folds"]["scheme"] == "centre":
        lines.append(
            "- Centres held out in turn (internal-external cross-validation), no locked model tested on new data: "
            "figures on another hospital's scanners and protocols may be lower."
        )
    else:
        lines.append("- Internal validation only: figures on another hospital's scanners and protocols may be lower.")
    lines.append(
        "- Balanced class weights and the weighted sampler shift probabilities towards the positive class when "
        "positives are rarer; read calibration before using a threshold."
    )
    return lines


@command(
    "write the run's model card (the TRIPOD+AI items a run can answer)",
    required("--summary", "summary.csv: out-of-fold and external rows"),
    required("--folds", "folds table (.tsv)"),
    (["--clinical"], {"nargs": "*", "default": [], "help": "the cross-validation patients' clinical values"}),
    (["--fusion-reports"], {"nargs": "*", "default": [], "help": "the folds' fusion reports (.json)"}),
    (["--explanations"], {"nargs": "?", "default": "", "help": "explanations.csv (Grad-CAM shares)"}),
    (["--deployed"], {"nargs": "?", "default": "", "help": "deployed.json: what new patients get (fusion, auto)"}),
    SETTINGS,
    required("--out", "model card to write (.md)"),
)
def run(*, summary, folds, clinical, fusion_reports, explanations, settings, out, deployed=""):
    """The `egfrmet model-card` subcommand."""
    reports = [json.loads(Path(path).read_text(encoding="utf-8")) for path in fusion_reports]
    if deployed:
        settings = settings | {"deployed": json.loads(Path(deployed).read_text(encoding="utf-8"))}
    values, _ = clinical_inputs.read(clinical)
    shares = pd.read_csv(explanations) if explanations else None
    text = card(
        summary=pd.read_csv(summary),
        folds=read_folds(folds),
        clinical=values,
        reports=[r for r in reports if r["repeat"] == 0],
        shares=shares,
        settings=settings,
    )
    with atomic_output(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
