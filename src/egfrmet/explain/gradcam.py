"""Grad-CAM: where in its crops the fold model looked when it scored a patient.

Captum's LayerGradCam (PyTorch's own attribution library, pure Python) rather than the
`grad-cam` package, which would add OpenCV for what is here one interpolation. The map is
the ReLU of the channel-weighted activations of `explain.layer` (gradients of the explained
class's logit averaged over space give the weights), upsampled bilinearly to the crop. The
class (`explain.target`) is the one the model predicts for each slice, by default: a map of
EGFR+ evidence on a slice the model calls wild-type is mostly zero, and says nothing.
"""

import glob
import logging
import os

import numpy as np
import pandas as pd
import torch

from egfrmet.arguments import CROPS, MODEL_SETTINGS, THREADS, command, required
from egfrmet.evaluation.figures import example_patients
from egfrmet.io.figures import pyplot, save
from egfrmet.io.files import atomic_output, crop_files, crop_layout
from egfrmet.training.data import read_instances
from egfrmet.training.networks import family, load_model
from egfrmet.training.runtime import set_up

log = logging.getLogger(__name__)


def find_layer(model, name):
    """The model's module called `name` (timm's names, e.g. layer4), wherever the body sits."""
    for full, module in model.named_modules():
        if full == name or full.endswith(f".{name}"):
            return module
    raise ValueError(f"explain.layer: the model has no module named {name!r}")


CLASSES = {0: "wild-type", 1: "EGFR+"}


def grad_cam(model, layer, x, targets):
    """(n, h, w) Grad-CAM maps for instances x, each of the class its entry of `targets` names
    (0 wild-type, 1 EGFR+), each scaled to a maximum of 1 (an all-zero map stays zero): one
    per image of `layer`'s batch (a slice; every slice of a bag, of the bag's class)."""
    from captum.attr import LayerAttribution, LayerGradCam

    model.eval()
    targets = [int(t) for t in targets]
    attribution = LayerGradCam(model, layer).attribute(x, target=targets, relu_attributions=True)
    maps = LayerAttribution.interpolate(attribution, tuple(x.shape[-2:]), "bilinear")[:, 0].detach()
    peak = maps.flatten(1).amax(1).clamp_min(1e-12)
    return (maps / peak[:, None, None]).numpy()


def explain_patient(model, crops, layer, model_settings=None, target="predicted"):
    """One patient's drawn crop slices (the T1c; its network family's: egfrmet.training.networks),
    their lesion and brain masks, a Grad-CAM map each, the class each explains, P(EGFR+)
    and, for a family that weighs slices, each slice's attention weight. `crops`: its crops
    file; `model_settings`: the network's (settings.model_settings; default the paper's
    slices); `target`: predicted (the class the model predicts) or egfr (class 1)."""
    model_settings = model_settings or {}
    network = family(model_settings)
    layout = crop_layout(crops)
    drawn = network.drawn(layout)
    with np.load(crops) as data:
        slices, masks = data["slices"][drawn], data["masks"][drawn]
        brain = data["brain_masks"][drawn] if "brain_masks" in data else np.ones_like(masks)
    # every channel the model takes, as its family's instances; `slices` shows the T1c
    files = crop_files([crops])  # {patient: crops}: errors name the patient
    instances, _ = read_instances(files, *files, model_settings)
    x = torch.from_numpy(network.join([instances])).float()
    shown = network.explanation(model, x, target)
    cams = grad_cam(model, layer, x, shown.pop("targets"))
    return {"slices": slices, "masks": masks, "brain_masks": brain, "cams": cams} | shown


def shares(cams, masks, brain):
    """Where a patient's Grad-CAM mass lies, against the area: the share of the maps' total
    in the lesion and in the brain, and the share of the crops' pixels each covers (a map
    spread at random would put as much mass in a region as its area)."""
    cams = np.asarray(cams, dtype=float)
    lesion, brain = np.asarray(masks) > 0, np.asarray(brain) > 0
    total = cams.sum()  # an all-zero map says nothing of where it looked
    return {
        "cam_in_lesion": float(cams[lesion].sum() / total) if total > 0 else float("nan"),
        "lesion_area": float(lesion.mean()),
        "cam_in_brain": float(cams[brain].sum() / total) if total > 0 else float("nan"),
        "brain_area": float(brain.mean()),
    }


def shown_slices(result, most=10):
    """Which of a patient's explained slices a figure draws: all, or `most` of them (those of
    most attention, else evenly spaced), in slice order."""
    n = len(result["slices"])
    if n <= most:
        return np.arange(n)
    if "attention" in result:
        return np.sort(np.argsort(-np.asarray(result["attention"]), kind="stable")[:most])
    return np.unique(np.linspace(0, n - 1, most).round().astype(int))


def slice_title(result, i):
    """A drawn slice's title: its P(EGFR+) and, for a family that weighs slices, its weight."""
    weight = f", weight {result['attention'][i]:.2f}" if "attention" in result else ""
    return f"P(EGFR+) {result['probability'][i]:.2f}{weight}\nmap: {CLASSES[int(result['target'][i])]} evidence"


def patient_figure(result, patient, title, path):
    plt = pyplot()
    shown = shown_slices(result)
    fig, axes = plt.subplots(1, len(shown), figsize=(2.0 * len(shown), 2.4), squeeze=False)
    for ax, i in zip(axes[0], shown):
        overlay(ax, result["slices"][i], result["masks"][i], result["cams"][i])
        ax.set_title(slice_title(result, i), fontsize=8)
    fig.suptitle(f"{patient}: {title}", fontsize=9)
    fig.tight_layout()
    save(fig, [path], dpi=90)


def overlay(ax, image, mask, cam):
    ax.imshow(image, cmap="gray", vmin=np.percentile(image, 1), vmax=np.percentile(image, 99))
    ax.imshow(cam, cmap="jet", alpha=0.35, vmin=0, vmax=1)
    if mask.any():
        ax.contour(mask, levels=[0.5], colors="white", linewidths=0.6)
    ax.axis("off")


@command(
    "Grad-CAM maps of a fold's validation patients by the fold's model",
    required("--fold", "the fold (for the titles)", type=int),
    required("--model", "the fold's model (.pt)"),
    MODEL_SETTINGS,
    CROPS,
    required("--layer", "the model's module whose activations make the map (e.g. layer4)"),
    required(
        "--classes", "the class each map explains: each slice's predicted one, or EGFR+", choices=["predicted", "egfr"]
    ),
    THREADS,
    required("--out-dir", "folder for {patient}.npz and {patient}.png (made)"),
)
def run(*, fold, model, model_settings, crops, layer, classes, out_dir, threads=1):
    """The `egfrmet explain` subcommand: Grad-CAM maps (.npz) and picture (.png) of each
    patient whose crops are given, all by one fold's model (loaded once: one job per fold)."""
    set_up(threads)
    os.makedirs(out_dir, exist_ok=True)
    network = load_model(model, model_settings, torch.device("cpu"))
    module = find_layer(network, layer)
    title = f"Grad-CAM ({layer}) of fold {fold}'s model, which did not train on this patient; white: lesion"
    for patient, path in crop_files(crops).items():
        result = explain_patient(network, path, module, model_settings, classes)
        result |= shares(result["cams"], result["masks"], result["brain_masks"])
        with atomic_output(os.path.join(out_dir, f"{patient}.npz")) as tmp:
            np.savez_compressed(tmp, patient_id=patient, fold=fold, **result)
        patient_figure(result, patient, title, os.path.join(out_dir, f"{patient}.png"))
        log.info(
            "patient %s (fold %d): slice probabilities %s", patient, fold, np.round(result["probability"], 3).tolist()
        )


SHARES = ("cam_in_lesion", "lesion_area", "cam_in_brain", "brain_area")


def share_table(explained):
    """explanations.csv: each patient's Grad-CAM shares (egfrmet.explain.gradcam.shares), by fold."""
    rows = []
    for path in explained:
        with np.load(path) as data:
            rows.append(
                {"patient_id": str(data["patient_id"]), "fold": int(data["fold"])} | {k: float(data[k]) for k in SHARES}
            )
    return pd.DataFrame(rows, columns=["patient_id", "fold", *SHARES])


@command(
    "Grad-CAM of typical patients per class in one figure",
    required("--scores", "patient_scores.csv of evaluate"),
    required("--selection", "whose scores choose the typical patients"),
    required("--aggregate", "slice aggregate of the scores (evaluate.metric)"),
    (["--explained"], {"nargs": "+", "required": True, "help": "each fold's folder of Grad-CAM maps (.npz)"}),
    required("--per-class", "patients per class", type=int),
    required("--out", "figure to write (.png)"),
    required("--out-table", "each patient's Grad-CAM share in lesion and brain to write (.csv)"),
)
def run_figure(*, scores, selection, aggregate, explained, per_class, out, out_table):
    """The `egfrmet explain-figure` subcommand: typical patients of each class (evenly spaced
    quantiles of `selection`'s scores), one row each; and every patient's Grad-CAM shares.
    `explained`: the folders `egfrmet explain` wrote, one per fold."""
    explained = [path for folder in explained for path in sorted(glob.glob(os.path.join(folder, "*.npz")))]
    table_of_shares = share_table(explained)
    with atomic_output(out_table) as tmp:
        table_of_shares.to_csv(tmp, index=False)
    median = table_of_shares.median(numeric_only=True)
    log.info(
        "Grad-CAM mass in the lesion %.1f %% (area %.1f %%), in the brain %.1f %% (area %.1f %%): medians, %d patients",
        *(100 * median[k] for k in SHARES),
        len(table_of_shares),
    )
    table = pd.read_csv(scores, dtype={"patient_id": str})
    table = table[table.selection == selection]
    patients = example_patients(table, aggregate, per_class)
    table = table.set_index("patient_id")
    files = crop_files(explained)  # the maps are named by patient as the crops are
    plt = pyplot()
    rows = [dict(np.load(files[p])) for p in patients]
    n = max(len(shown_slices(r)) for r in rows)
    fig, axes = plt.subplots(len(rows), n, figsize=(2.0 * n, 2.1 * len(rows)), squeeze=False)
    for row_axes, patient, result in zip(axes, patients, rows):
        for ax in row_axes:
            ax.axis("off")
        for ax, i in zip(row_axes, shown_slices(result)):
            overlay(ax, result["slices"][i], result["masks"][i], result["cams"][i])
            weight = f", weight {result['attention'][i]:.2f}" if "attention" in result else ""
            ax.set_title(f"{CLASSES[int(result['target'][i])]} map{weight}", fontsize=7)
        label, score = int(table.loc[patient, "label"]), float(table.loc[patient, aggregate])
        row_axes[0].set_title(
            f"{patient} EGFR{'+' if label else '−'}, {aggregate} {score:.2f}\n{CLASSES[int(result['target'][0])]} map",
            fontsize=8,
            loc="left",
        )
    fig.suptitle(
        f"Grad-CAM of typical patients per class ({selection}'s scores; own fold's model; each map of the class "
        f"the model predicts for its slice).\nMedian over "
        f"{len(table_of_shares)} patients: {median.cam_in_lesion:.0%} of the map in the lesion "
        f"({median.lesion_area:.0%} of the crop), {median.cam_in_brain:.0%} in the brain ({median.brain_area:.0%})",
        fontsize=8,
    )
    fig.tight_layout()
    save(fig, [out], dpi=90)
