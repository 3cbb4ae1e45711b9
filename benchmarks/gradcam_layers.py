"""Where Grad-CAM looks, by layer and target, against a gradient-free method (occlusion).

For every fold's validation patients of a finished run (their crops, their own fold's model):
the median share of the map's mass in the lesion (the lesion covers `lesion_area` of the
crop), and how much the map agrees with occlusion's (Spearman correlation over pixels,
median over slices). Occlusion (captum) slides a grey patch over the crop and records how
much the explained class's probability falls: slow, but needs no gradient and no layer.

    python benchmarks/gradcam_layers.py results config/demo.yaml   # a run's folder and its overlays
"""

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr

from egfrmet.config.settings import model_settings, read_config
from egfrmet.explain.gradcam import explain_patient, find_layer, shares
from egfrmet.io.files import crop_channels
from egfrmet.training.model import takes_lesion_mask
from egfrmet.training.networks import load_model

CONFIG = Path(__file__).resolve().parents[1] / "config" / "config.yaml"


def occlusion(model, x, targets, window):
    """(n, h, w) occlusion maps: the drop in each explained class's probability when a
    window-sized patch (the slice's mean) covers each place, clipped at 0, max 1."""
    from captum.attr import Occlusion

    def probability(inputs):
        return torch.softmax(model(inputs), 1)

    channels = x.shape[1]
    baseline = x.mean(dim=(2, 3), keepdim=True).expand_as(x).contiguous()
    maps = Occlusion(probability).attribute(
        x,
        sliding_window_shapes=(channels, window, window),
        strides=(channels, window // 2, window // 2),
        target=[int(t) for t in targets],
        baselines=baseline,
        perturbations_per_eval=64,
    )
    maps = maps.sum(1).clamp_min(0).detach().numpy()
    peak = maps.reshape(len(maps), -1).max(1).clip(1e-12)
    return maps / peak[:, None, None]


def row(patient, fold, method, target, maps, crops, reference):
    """One patient's figures for one method: shares of the map, all-zero slices, agreement."""
    agreement = [spearmanr(m.ravel(), r.ravel()).statistic for m, r in zip(maps, reference) if m.any() and r.any()]
    return (
        {"patient_id": patient, "fold": fold, "method": method, "target": target}
        | shares(maps, crops["masks"], crops["brain_masks"])
        | {"zero_maps": int(sum(not m.any() for m in maps)), "agreement": np.median(agreement) if agreement else np.nan}
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results")
    parser.add_argument("configs", nargs="*", help="the run's overlays on config/config.yaml, in order")
    parser.add_argument("--layers", nargs="+", default=["layer3", "layer4"])
    parser.add_argument("--window", type=int, default=8, help="occlusion patch side, pixels")
    args = parser.parse_args()
    config = read_config([CONFIG, *args.configs])
    settings = model_settings(config)
    folds = pd.read_csv(os.path.join(args.results, "folds.tsv"), sep="\t", dtype={"patient_id": str})
    folds = folds[folds.repeat == folds.repeat.min()] if "repeat" in folds else folds
    rows = []
    start = time.perf_counter()
    for fold, part in folds.groupby("fold"):
        model = load_model(
            os.path.join(args.results, "models", f"fold{fold}", "model.pt"), settings, torch.device("cpu")
        )
        for patient in part.patient_id:
            crops = os.path.join(args.results, "crops", f"{patient}.npz")
            x = torch.from_numpy(crop_channels(crops, takes_lesion_mask(settings))).float()
            predicted = explain_patient(model, crops, find_layer(model, args.layers[0]), settings)
            reference = occlusion(model, x, predicted["target"], args.window)  # of each slice's predicted class
            for layer in args.layers:
                for target in ("predicted", "egfr"):
                    result = explain_patient(model, crops, find_layer(model, layer), settings, target)
                    rows.append(row(patient, fold, f"grad-cam {layer}", target, result["cams"], result, reference))
            rows.append(row(patient, fold, f"occlusion {args.window}px", "predicted", reference, predicted, reference))
    table = pd.DataFrame(rows)
    summary = table.groupby(["method", "target"]).agg(
        patients=("patient_id", "nunique"),
        cam_in_lesion=("cam_in_lesion", "median"),
        lesion_area=("lesion_area", "median"),
        zero_maps=("zero_maps", "sum"),
        agreement_with_occlusion=("agreement", "median"),
    )
    print(summary.round(3).to_string())
    print(f"{time.perf_counter() - start:.0f} s; crops {x.shape[-1]} px; occlusion window {args.window} px")


if __name__ == "__main__":
    main()
