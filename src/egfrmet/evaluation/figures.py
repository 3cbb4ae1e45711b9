"""The evaluation's figures: ROC curves per fold (the paper's Fig. 1), example patients'
slices with their probabilities (Fig. 2), the reliability diagram and the training curves."""

import numpy as np
from sklearn.metrics import roc_curve

from egfrmet import methods
from egfrmet.io.figures import pyplot, save
from egfrmet.io.files import read_crops
from egfrmet.metrics import auc, brier, reliability


def roc_figure(scores, aggregate, paths, selection):
    """Fig. 2: each fold's ROC curve and the mean curve with a +-1 SD band; the title says
    whose scores: a network selection's `aggregate` of slices, or a method's patient score."""
    plt = pyplot()
    grid = np.linspace(0, 1, 101)
    curves, aucs = [], []
    fig, ax = plt.subplots(figsize=(5.2, 5))
    for fold, part in scores.groupby("fold"):
        fpr, tpr, _ = roc_curve(part.label, part[aggregate])
        fold_auc = auc(part.label, part[aggregate])
        ax.plot(fpr, tpr, lw=1, alpha=0.5, label=f"fold {fold} (AUC {fold_auc:.2f})")
        curves.append(np.interp(grid, fpr, tpr))
        curves[-1][0] = 0.0  # every curve starts at the origin
        aucs.append(fold_auc)
    mean, sd = np.mean(curves, 0), np.std(curves, 0)
    mean[-1] = 1.0
    ax.plot(grid, mean, color="navy", lw=2, label=f"mean (AUC {np.mean(aucs):.2f} ± {np.std(aucs):.2f})")
    ax.fill_between(grid, np.clip(mean - sd, 0, 1), np.clip(mean + sd, 0, 1), color="navy", alpha=0.15, label="± 1 SD")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
    ax.set(
        xlabel="False positive rate",
        ylabel="True positive rate",
        title=f"ROC of {selection}: {score_words(selection, aggregate)}, {len(aucs)} folds",
    )
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    save(fig, paths, dpi=120)
    return {"grid": grid, "mean_tpr": mean, "sd_tpr": sd, "fold_aucs": aucs}


def score_words(selection, aggregate):
    if methods.of(selection).kind == methods.NETWORK:
        return f"{aggregate} of its slice probabilities"
    return "one probability per patient"


def example_patients(scores, aggregate, per_class):
    """Typical patients of each class: evenly spaced quantiles of its scores."""
    chosen = []
    for label in (1, 0):
        part = scores[scores.label == label].sort_values([aggregate, "patient_id"])
        if len(part):
            index = np.unique(np.linspace(0, len(part) - 1, min(per_class, len(part))).round().astype(int))
            chosen += list(part.patient_id.iloc[index])
    return chosen


def slice_figure(slices, scores, aggregate, crops, patients, path, most=10):
    """Fig. 1: a few patients' crops with each instance's score (a slice's, or a bag's on its
    middle slice: `slice` is the crop slice it is drawn on) and the patient aggregate; at most
    `most` instances a patient, evenly spaced."""
    plt = pyplot()
    rows = {p: slices[slices.patient_id == p].sort_values("slice") for p in patients}
    rows = {
        p: part.iloc[np.unique(np.linspace(0, len(part) - 1, min(most, len(part))).round().astype(int))]
        for p, part in rows.items()
    }
    n_slices = max(len(part) for part in rows.values())
    fig, axes = plt.subplots(len(patients), n_slices, figsize=(1.8 * n_slices, 2.0 * len(patients)), squeeze=False)
    for row_axes, patient in zip(axes, patients):
        images = read_crops(crops, patient)[:, 0]  # the T1c
        score = scores.set_index("patient_id").loc[patient]
        for ax, k, prob in zip(row_axes, rows[patient].slice, rows[patient].probability):
            ax.imshow(images[k], cmap="gray", vmin=np.percentile(images, 1), vmax=np.percentile(images, 99))
            ax.set_title(f"{prob:.2f}", fontsize=9)
        for ax in row_axes:  # with several lesions, patients differ in slice count
            ax.axis("off")
        row_axes[0].text(
            -0.08,
            0.5,
            f"{patient}\nEGFR{'+' if score.label else '−'}\n{aggregate} {score[aggregate]:.2f}",
            transform=row_axes[0].transAxes,
            ha="right",
            va="center",
            fontsize=9,
        )
    fig.suptitle(f"Slice scores (P(EGFR+)) and the patient's {aggregate}", fontsize=10)
    fig.tight_layout()
    save(fig, [path], dpi=100)


def calibration_figure(tables, aggregate, bins, path, title="Calibration (out-of-fold patients)"):
    """Reliability diagram: observed fraction of EGFR+ patients against the mean predicted
    probability per bin, one line per selection (marker area ~ patients), Brier in the legend."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 5))
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfect calibration")
    for i, (selection, scores) in enumerate(tables.items()):
        bins_table = reliability(scores.label, scores[aggregate], bins)
        ax.plot(
            bins_table.predicted,
            bins_table.observed,
            "-",
            color=f"C{i}",
            lw=1,
            label=f"{selection} (Brier {brier(scores.label, scores[aggregate]):.3f})",
        )
        ax.scatter(bins_table.predicted, bins_table.observed, s=12 * bins_table.n, color=f"C{i}", alpha=0.6)
    ax.set(
        xlim=(0, 1),
        ylim=(-0.02, 1.02),
        xlabel=f"predicted P(EGFR+), {aggregate} of slices ({bins} bins)"
        if aggregate in ("median", "mean", "min", "max")
        else f"predicted P(EGFR+) ({bins} bins)",
        ylabel="observed fraction EGFR+",
        title=title,
    )
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    save(fig, [path], dpi=120)


CURVE_MARKERS = {"best_val_accuracy": "o", "inner_cv": "s", "last": "^"}


def curves_figure(histories, path):
    """Per-fold training curves from history.csv: losses, validation accuracy and AUC, lr;
    markers show the epoch each selection kept from the outer run (circle: paper's, square:
    inner_cv, triangle: last)."""
    plt = pyplot()
    panels = [
        ("train_loss", "training loss (1 − soft-F1, mixed)"),
        ("val_loss", "validation loss"),
        ("val_acc", "validation accuracy (slices)"),
        ("val_auc", "validation AUC (slices)"),
    ]
    fig, axes = plt.subplots(1, len(panels) + 1, figsize=(4 * (len(panels) + 1), 3.4))
    for fold, history in enumerate(histories):
        colour = f"C{fold}"
        for ax, (column, title) in zip(axes, panels):
            ax.plot(history.epoch, history[column], color=colour, lw=1, label=f"fold {fold}")
            for selection, marker in CURVE_MARKERS.items():
                if f"kept_{selection}" in history:
                    kept = history[history[f"kept_{selection}"].astype(bool)]
                    label = selection if fold == 0 and column == "val_auc" else None
                    ax.plot(kept.epoch, kept[column], marker, color=colour, ms=5, mfc="none", label=label)
            ax.set_title(title, fontsize=9)
        axes[-1].plot(history.epoch, history.lr, color=colour, lw=1)
    axes[-1].set_title("learning rate", fontsize=9)
    axes[-1].set_yscale("log")
    axes[0].legend(fontsize=7)
    axes[3].legend(fontsize=7)
    for ax in axes:
        ax.set_xlabel("epoch", fontsize=8)
    fig.tight_layout()
    save(fig, [path], dpi=90)
