"""Cross-validation results in the shape of the paper's Table 2, Fig. 1 and Fig. 2.

Slice probabilities become patient scores by the median, mean, min or max of a patient's
slices. For each aggregate: AUC per fold, their mean and SD (population SD, ddof 0, which
is what the paper's Table 2 numbers imply), and sensitivity, specificity and accuracy at the
threshold over all patients pooled. Beyond the paper: the pooled AUC with a stratified
bootstrap confidence interval over patients (egfrmet.evaluation.summary's, so Table 2 and the summary
table agree).
"""

import json
import logging
import os

import numpy as np
import pandas as pd

from egfrmet import methods
from egfrmet.arguments import CROPS, SETTINGS, command, required
from egfrmet.evaluation.compare import comparison_markdown, comparison_pairs, comparison_table, score_of
from egfrmet.evaluation.decision import decision_figure, decision_table, thresholds
from egfrmet.evaluation.figures import calibration_figure, curves_figure, example_patients, roc_figure, slice_figure
from egfrmet.evaluation.summary import summarise
from egfrmet.io.files import crop_files, write_csv, write_text
from egfrmet.metrics import auc, bootstrap_auc, bootstrap_settings, threshold_metrics
from egfrmet.training.selection import SELECTIONS, outer_model_selection

log = logging.getLogger(__name__)

AGGREGATES = ("min", "max", "median", "mean")  # the paper's row order
FUSED = tuple(methods.named(methods.STACK) + methods.named(methods.CHOICE))  # made from the others


def patient_scores(slices):
    """One row per patient: label, fold and each aggregate of its slice probabilities."""
    grouped = slices.groupby("patient_id")
    scores = grouped.probability.agg(list(AGGREGATES))
    scores.insert(0, "label", grouped.label.first())
    scores.insert(1, "fold", grouped.fold.first())
    return scores.reset_index()


def table2(scores, *, threshold, bootstrap):
    """The paper's Table 2 (per-fold AUC, mean, SD, metrics at the threshold) plus pooled AUC."""
    rows = []
    for aggregate in AGGREGATES:
        row = {"aggregate": aggregate}
        fold_aucs = []
        for fold, part in scores.groupby("fold"):
            fold_auc = auc(part.label, part[aggregate]) if part.label.nunique() == 2 else float("nan")
            row[f"fold_{fold}_auc"] = fold_auc
            fold_aucs.append(fold_auc)
        row["mean_auc"] = float(np.nanmean(fold_aucs))
        row["sd_auc"] = float(np.nanstd(fold_aucs, ddof=0))
        row |= threshold_metrics(scores.label, scores[aggregate], threshold)
        row["pooled_auc"] = auc(scores.label, scores[aggregate])
        row["pooled_auc_low"], row["pooled_auc_high"] = bootstrap_auc(scores.label, scores[aggregate], **bootstrap)
        rows.append(row)
    return pd.DataFrame(rows)


def training_note(histories):
    """Which precision and device the folds trained with: the conditions under which the
    figures repeat bit for bit."""
    pairs = sorted({(h.precision.iloc[0], h.device.iloc[0]) for h in histories if "precision" in h})
    if not pairs:
        return ""
    where = "; ".join(f"{precision} on {device}" for precision, device in pairs)
    return (
        f" Trained in {where}: the figures repeat bit for bit on the same CPU family (or GPU) and "
        "precision, and move slightly elsewhere."
    )


def table2_markdown(table, *, threshold, level, selection, training=""):
    folds = [c for c in table.columns if c.startswith("fold_")]
    header = (
        ["Aggregate"]
        + [f"Fold {c.split('_')[1]}" for c in folds]
        + ["Mean", "SD"]
        + [
            f"Sensitivity @{threshold}",
            f"Specificity @{threshold}",
            f"Accuracy @{threshold}",
            f"Pooled AUC ({level:.0%} CI)",
        ]
    )
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table.itertuples():
        cells = [row.aggregate.title()] + [f"{getattr(row, c):.2f}" for c in folds]
        cells += [f"{row.mean_auc:.2f}", f"{row.sd_auc:.2f}"]
        cells += [f"{v:.1%}" for v in (row.sensitivity, row.specificity, row.accuracy)]
        cells.append(f"{row.pooled_auc:.2f} ({row.pooled_auc_low:.2f}–{row.pooled_auc_high:.2f})")
        lines.append("| " + " | ".join(cells) + " |")
    note = {
        "best_val_accuracy": "Each fold kept the epoch of best validation accuracy, as the paper did: the "
        "validation fold chose the model, so these figures are **optimistic**; the other selections "
        "are leak-free.",
        "inner_ensemble": "Each fold's validation patients were scored by the mean of its inner models, each "
        "kept at the epoch of best validation on its own inner fold (inner cross-validation within the fold's "
        "training patients): the validation folds chose nothing, so these figures are leak-free.",
        "inner_cv": "Each fold kept the epoch its inner folds chose (inner cross-validation within the fold's "
        "training patients): the validation folds chose nothing, so these figures are leak-free.",
        "last": "Each fold kept its last epoch: the validation folds chose nothing.",
    }[selection]
    return (
        f"### Selection: {selection}\n\n"
        + "\n".join(lines)
        + f"\n\nFold AUCs are per validation fold; SD is the population SD over folds. {note}{training}\n"
    )


def by_selection(slices):
    """{selection: its slice rows}, in egfrmet.training.selection's order (the paper's first)."""
    present = set(slices.selection)
    return {name: slices[slices.selection == name] for name in SELECTIONS if name in present}


def aggregates_of(scores):
    """The score columns of a method: the slice aggregates, or a baseline's one `patient`."""
    return [name for name in (*AGGREGATES, "patient") if name in scores]


def pooled_over_repeats(per_repeat):
    """One row per patient: its aggregates averaged over the repeats (each out-of-fold)."""
    if len(per_repeat) == 1:
        return next(iter(per_repeat.values()))
    both = pd.concat(per_repeat.values())
    how = {"label": "first", "fold": "first"} | {aggregate: "mean" for aggregate in aggregates_of(both)}
    return both.groupby("patient_id").agg(how).reset_index()


def baseline_repeats(paths):
    """{method: {repeat: patient scores}} of the baselines' fold files (egfrmet.baselines.methods):
    one score per patient, in a column `patient`."""
    if not paths:
        return {}
    rows = pd.concat([pd.read_csv(path, dtype={"patient_id": str}) for path in paths], ignore_index=True)
    return {
        method: {
            r: part[["patient_id", "label", "fold", "probability"]].rename(columns={"probability": "patient"})
            for r, part in by_method.groupby("repeat")
        }
        for method, by_method in rows.groupby("selection", sort=False)
    }


def complete_cases(crops):
    """The patients whose crops hold every further sequence, where some patient's lack one
    (inputs.missing: allow, `sequence_present`); else None."""
    present = {}
    for patient, path in crop_files(crops).items():
        with np.load(path) as data:
            if "sequence_present" in data:
                present[patient] = bool(data["sequence_present"].all())
    if not present or all(present.values()):
        return None
    return [patient for patient, every in present.items() if every]


def summary_rows(per_repeat, settings, held_out=None, complete=None):
    """summary.csv from {method: {repeat: patient scores}}: each method's rows over all
    patients (with repeats, each patient's scores averaged over them), each repeat's rows,
    with `held_out` ({fold: name}, e.g. the centre a leave-centre-out fold holds out)
    each held-out part's rows, and with `complete` (the patients with every sequence, where
    some lack one) the rows of those patients alone."""
    options = {"threshold": settings["threshold"]} | bootstrap_settings(settings)

    def rows_of(name, part, subset="all"):
        return summarise(part, selection=name, aggregates=aggregates_of(part), subset=subset, **options)

    pooled = {name: pooled_over_repeats(repeats) for name, repeats in per_repeat.items()}
    rows = [rows_of(name, part) for name, part in pooled.items()]
    for fold, label in (held_out or {}).items():
        rows += [rows_of(name, part[part.fold == int(fold)], label) for name, part in pooled.items()]
    if complete is not None:
        for name, part in pooled.items():
            cases = part[part.patient_id.isin(complete)]
            if cases.label.nunique() == 2:  # else no AUC: the rows are left out
                rows.append(rows_of(name, cases, "complete cases"))
    for name, repeats in per_repeat.items():
        if len(repeats) > 1:
            rows += [rows_of(name, part, f"repeat {r}") for r, part in repeats.items()]
    return pd.concat(rows, ignore_index=True)


def read_methods(val_slices, baseline_scores):
    """The folds' slice rows (with a `repeat` column), and {method: {repeat: patient scores}}
    of the network's selections and of the baselines (the fused model and auto among them)."""
    slices = pd.concat([pd.read_csv(path, dtype={"patient_id": str}) for path in val_slices], ignore_index=True)
    slices = slices.assign(repeat=slices.get("repeat", 0))
    networks = {
        name: {r: patient_scores(rows) for r, rows in part.groupby("repeat")}
        for name, part in by_selection(slices).items()
    }
    return slices, networks, baseline_repeats(baseline_scores)


def write_tables(out_dir, scores, tables, markdown, rows, comparison, *, level):
    """patient_scores, Table 2, the cross-validation's summary rows and comparison, each as csv
    (and markdown where read)."""
    for name, table in (("patient_scores.csv", scores), ("table2.csv", tables)):
        write_csv(pd.concat(part.assign(selection=key) for key, part in table.items()), os.path.join(out_dir, name))
    write_text(markdown, os.path.join(out_dir, "table2.md"))
    write_csv(rows, os.path.join(out_dir, "cross_validation.csv"))  # summary.csv's internal rows
    write_csv(comparison, os.path.join(out_dir, "comparison.csv"))
    write_text(comparison_markdown(comparison, level=level), os.path.join(out_dir, "comparison.md"))


def write_decision_curve(out_dir, pooled, settings, predict_with):
    """Net benefit of every method's one score per patient (settings' metric): the csv holds
    every method, the figure the few a reader decides with (drawn_methods)."""
    one_score = {name: score_of(part, settings["metric"]) for name, part in pooled.items()}
    decisions = decision_table(
        {name: (part.label, part.score) for name, part in one_score.items()}, thresholds(settings["decision_curve"])
    )
    write_csv(decisions, os.path.join(out_dir, "decision_curve.csv"))
    aucs = {name: auc(part.label, part.score) for name, part in one_score.items()}
    decision_figure(decisions, os.path.join(out_dir, "decision_curve.png"), shown=drawn_methods(aucs, predict_with))


def drawn_methods(aucs, predict_with):
    """{method: its label} of the methods a decision figure draws: the one that ships, the
    leak-free network selection, baseline and stack of best pooled AUC (picked by looking at
    these patients: the labels say so), and auto; optimistic ones say that too."""

    def best(kind):
        names = [n for n in aucs if methods.of(n).kind == kind and methods.of(n).leak_free]
        return max(names, key=aucs.get) if names else None

    roles = {predict_with: "shipped"}
    for kind, role in ((methods.NETWORK, "best leak-free network"), (methods.BASELINE, "best baseline")):
        roles.setdefault(best(kind), role)
    for name in methods.named(methods.STACK) + methods.named(methods.CHOICE):
        if name in aucs:
            roles.setdefault(name, methods.of(name).kind)
    roles.pop(None, None)
    return {
        name: f"{name} ({role}{'' if methods.of(name).leak_free else ', optimistic'})" for name, role in roles.items()
    }


@command(
    "Table 2, patient scores, ROC figure and slice-score figure from the folds' validation slices",
    (["--val-slices"], {"nargs": "+", "required": True, "help": "each fold's val_slices.csv"}),
    (["--histories"], {"nargs": "+", "required": True, "help": "each fold's history.csv"}),
    CROPS,
    SETTINGS,
    required("--predict-with", "the selection whose ROC and slice figures are drawn"),
    required("--out-dir", "folder to write into"),
    (
        ["--held-out"],
        {"type": json.loads, "default": None, "help": "JSON {fold: name}: summarise each fold on its own too"},
    ),
    (["--baseline-scores"], {"nargs": "*", "default": [], "help": "each fold's baseline scores (.csv)"}),
)
def run(*, val_slices, histories, crops, settings, predict_with, out_dir, held_out=None, baseline_scores=()):
    """The `egfrmet evaluate` subcommand: every selection's figures from the folds'
    validation slices; the figures of one patient set (ROC, slices) for `predict_with`.
    `held_out`: {fold: what it holds out}, to report each fold on its own as well.
    `baseline_scores`: the baselines' fold files (and egfrmet.baselines.fusion's, in the same format),
    for their summary rows and comparison.csv."""
    slices, networks, baselines = read_methods(val_slices, baseline_scores)
    per_repeat = networks | baselines  # every method: one summary table
    bootstrap = bootstrap_settings(settings)
    pooled = {name: pooled_over_repeats(repeats) for name, repeats in per_repeat.items()}
    fused = [name for name in FUSED if name in baselines]
    pairs = comparison_pairs(list(networks), [name for name in baselines if name not in FUSED], fused)
    comparison = comparison_table(pooled, pairs=pairs, aggregate=settings["metric"], bootstrap=bootstrap)
    # Table 2 and the figures: the first repeat, one cross-validation as in the paper
    slices = slices[slices.repeat == slices.repeat.min()]
    scores = {name: repeats[min(repeats)] for name, repeats in per_repeat.items()}
    tables = {name: table2(scores[name], threshold=settings["threshold"], bootstrap=bootstrap) for name in networks}
    histories = [pd.read_csv(path) for path in histories]
    note = training_note(histories)
    markdown = "\n".join(
        table2_markdown(
            table, threshold=settings["threshold"], level=settings["ci_level"], selection=name, training=note
        )
        for name, table in tables.items()
    )
    rows = summary_rows(per_repeat, settings, held_out, complete_cases(crops))
    write_tables(out_dir, scores, tables, markdown, rows, comparison, level=settings["ci_level"])
    write_decision_curve(out_dir, pooled, settings, predict_with)
    metric = settings["metric"]
    calibrated = {name: scores[name].rename(columns={"patient": metric}) for name in per_repeat}
    calibration_figure(calibrated, metric, settings["calibration_bins"], os.path.join(out_dir, "calibration.png"))
    shown = calibrated[predict_with]  # the predictor new patients get, one score per patient
    roc = roc_figure(shown, metric, [os.path.join(out_dir, "roc.png"), os.path.join(out_dir, "roc.pdf")], predict_with)
    # the slice figure shows a network's slices: predict_with's, or for fusion and auto `last`'s
    network = predict_with if predict_with in networks else outer_model_selection(list(networks), predict_with)
    patients = example_patients(scores[network], metric, settings["figure_patients_per_class"])
    figure_slices = slices[slices.selection == network]
    slice_figure(
        figure_slices, scores[network], metric, crop_files(crops), patients, os.path.join(out_dir, "slice_scores.png")
    )
    curves_figure(histories, os.path.join(out_dir, "training_curves.png"))
    log.info("Table 2:\n%s", markdown)
    log.info("ROC (%s, %s): fold AUCs %s", metric, predict_with, [round(a, 3) for a in roc["fold_aucs"]])
