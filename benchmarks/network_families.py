"""The network families (model.family) and the deep features on a finished run's patients:
each family's leak-free out-of-fold AUC against the paper's slices, radiomics and the deep
features, with the Grad-CAM (and attention) share on the lesion and the time per epoch.

    python benchmarks/network_families.py --results RUN/results \
        --configfile config/config.yaml config/demo.yaml [pre.yaml] \
        [--families slices stack attention] [--deep-weights r50.pth] [--out families.csv]

From the run it reads the folds (first repeat), the normalised images (the whole-lesion
crops are made from them where missing, with the config's crop settings, as the crop_lesion
rule makes them), the paper's crops and the radiomics baselines' out-of-fold scores. Each
family trains once per outer fold with the config's model and train sections, and scores the
fold's validation patients with its last epoch: nothing is chosen on them (leak-free), as the
summary's `last` row. Intervals: the summary's stratified bootstrap (evaluate section).
"""

import argparse
import copy
import glob
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from egfrmet.baselines import methods as baselines
from egfrmet.cohort.folds import read_folds
from egfrmet.config.settings import lesion_crop_settings, model_settings, read_config, train_settings
from egfrmet.explain.gradcam import explain_patient, find_layer, shares
from egfrmet.io.files import crop_files, crop_layout
from egfrmet.metrics import aggregate_slices, auc, bootstrap_auc, bootstrap_settings
from egfrmet.paths import network_crops
from egfrmet.preprocessing import crop
from egfrmet.training import deep_features, networks
from egfrmet.training.data import load_instances
from egfrmet.training.model import predict_probabilities
from egfrmet.training.runtime import cpu_has_amx_bf16, device_name, inference, pick_device, set_up
from egfrmet.training.train import train_fold


def lesion_crops(results, patients, config):
    """The whole-lesion crops of `patients`, made from the run's normalised images where missing."""
    settings = lesion_crop_settings(config)
    sequences = config["inputs"]["sequences"]
    for patient in patients:
        out = os.path.join(results, "crops_lesion", f"{patient}.npz")
        if os.path.exists(out):
            continue
        base = os.path.join(results, "normalised", patient)
        crop.run(
            patient,
            image=f"{base}.nii.gz",
            lesion=f"{base}_lesion.nii.gz",
            brain=f"{base}_brain.nii.gz",
            summary=f"{base}.json",
            settings=settings,
            out=out,
            qc=os.path.join(results, "qc", "lesion", f"{patient}.png"),
            sequence_files=[os.path.join(results, "normalised", name, f"{patient}.nii.gz") for name in sequences],
        )


def family_config(config, family):
    changed = copy.deepcopy(config)
    changed["model"]["family"] = family
    return changed


def run_family(results, config, family, table, device):
    """Out-of-fold patient scores of one family, seconds per epoch, lesion shares."""
    settings = model_settings(family_config(config, family))
    train = train_settings(config) | {"select": ["last"]}
    folder = os.path.join(results, Path(network_crops(networks.crop_extent(settings))).parent.name)
    crops = crop_files(sorted(glob.glob(os.path.join(folder, "*.npz"))))
    rows, seconds, shared = [], [], []
    for fold in sorted(table.fold.unique()):
        train_part, val_part = table[table.fold != fold], table[table.fold == fold]
        x_train, y_train, _, _ = load_instances(crops, train_part, settings)
        x_val, y_val, owners, _ = load_instances(crops, val_part, settings)
        history, kept = train_fold(
            x_train, y_train, x_val, y_val, model_settings=settings, settings=train, device=device, selections=["last"]
        )
        seconds += history.seconds.tolist()
        model = networks.build(settings)
        model.load_state_dict(kept["last"]["state"])
        model = model.to(device)
        probs = predict_probabilities(model, x_val, device, batch_size=64, **inference(train, device)).numpy()
        patient = aggregate_slices(probs, owners, list(val_part.patient_id), config["evaluate"]["metric"])
        rows.append(val_part.assign(probability=patient, method=family))
        model = model.cpu().float()
        layer = find_layer(model, config["explain"]["layer"])
        for p in val_part.patient_id:
            explained = explain_patient(model, crops[p], layer, settings, config["explain"]["target"])
            share = shares(explained["cams"], explained["masks"], explained["brain_masks"])
            if "attention" in explained:  # the weight on slices holding lesion
                area = crop_layout(crops[p])["lesion_area"]
                share["attention_on_lesion"] = float(explained["attention"][np.asarray(area) > 0].sum())
            shared.append(share)
        print(f"{family}: fold {fold} done ({np.mean(history.seconds):.1f} s an epoch)", flush=True)
    extra = pd.DataFrame(shared).median().to_dict()
    return pd.concat(rows), float(np.mean(seconds)), extra


def deep_scores(results, config, table, weights):
    """Out-of-fold scores of the deep_features baseline (its own fits inside each fold)."""
    settings = config["baselines"]["deep_features"] | {"weights": weights}
    body = deep_features.body(settings)
    start = time.perf_counter()
    rows = [deep_features.extract(body, os.path.join(results, "crops_lesion", f"{p}.npz"), p) for p in table.patient_id]
    took = (time.perf_counter() - start) / len(rows)
    features = pd.concat(rows).set_index("patient_id")
    fit = config["baselines"] | {"deep_features": settings}
    scores = pd.concat(
        baselines.fold_scores(features, table, fold, ["deep_features"], fit) for fold in sorted(table.fold.unique())
    )
    return scores.rename(columns={"selection": "method"}), took


def radiomics_scores(results, table):
    scores = pd.concat(pd.read_csv(path, dtype={"patient_id": str}) for path in glob.glob(f"{results}/baselines/*.csv"))
    scores = scores[scores.patient_id.isin(table.patient_id) & (scores.repeat == table.repeat.iloc[0])]
    return scores[scores.selection.isin(["radiomics", "radiomics_t1c"])].rename(columns={"selection": "method"})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", required=True)
    parser.add_argument("--configfile", nargs="+", required=True)
    parser.add_argument("--families", nargs="+", default=list(networks.FAMILIES))
    parser.add_argument("--deep-weights", default="", help="the deep features' body (a state-dict file)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    config = read_config(args.configfile)
    set_up(args.threads)
    device = pick_device(config["train"]["device"])
    table = read_folds(os.path.join(args.results, "folds.tsv"))
    table = table[table.repeat == table.repeat.min()] if "repeat" in table else table
    lesion_crops(args.results, table.patient_id, config)
    scores, timing = [radiomics_scores(args.results, table)], {}
    if args.deep_weights:
        deep, took = deep_scores(args.results, config, table, args.deep_weights)
        scores.append(deep)
        timing["deep_features"] = {"seconds_per_patient": took}
    amx = "with AMX-BF16" if cpu_has_amx_bf16() else "no AMX"
    print(f"{device_name(device)} ({amx}, {args.threads} threads); config {' '.join(args.configfile)}")
    report(scores, timing, config, args.out)
    for family in args.families:  # each family's figures as soon as it is done
        part, seconds, extra = run_family(args.results, config, family, table, device)
        scores.append(part)
        timing[family] = {"seconds_per_epoch": seconds} | extra
        report(scores, timing, config, args.out)


def report(scores, timing, config, out):
    """Each method's AUC with its interval (and timings, shares), printed and written."""
    scores = pd.concat(scores)
    bootstrap = bootstrap_settings(config["evaluate"])
    rows = []
    for method, part in scores.groupby("method", sort=False):
        low, high = bootstrap_auc(part.label, part.probability, **bootstrap)
        rows.append({"method": method, "patients": len(part), "auc": auc(part.label, part.probability)})
        rows[-1] |= {"auc_low": low, "auc_high": high} | timing.get(method, {})
    summary = pd.DataFrame(rows)
    print(summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"), flush=True)
    if out:
        summary.to_csv(out, index=False)
        scores.to_csv(out.replace(".csv", "_scores.csv"), index=False)


if __name__ == "__main__":
    main()
