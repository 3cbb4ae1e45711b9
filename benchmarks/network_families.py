"""The network families (model.family) and the deep features on a finished run's patients:
each family's leak-free out-of-fold AUC against the paper's slices, radiomics and the deep
features, with the Grad-CAM (and attention) share on the lesion and the time per epoch; and,
with `--sheet`, each method's AUC on patients no model saw.

    python benchmarks/network_families.py --results RUN/results \
        --configfile config/config.yaml config/demo.yaml [pre.yaml] [--sheet RUN/samples.tsv] \
        [--families slices stack attention] [--deep-weights r50.pth] [--out families.csv]

From the run it reads the folds (first repeat), the normalised images (the whole-lesion
crops are made from them where missing, with the config's crop settings, as the crop_lesion
rule makes them), the paper's crops and the radiomics features. Each family trains
once per outer fold with the config's model and train sections, and scores the fold's
validation patients with its last epoch: nothing is chosen on them (leak-free), as the
summary's `last` row. The baselines (radiomics, radiomics_t1c, deep_features) are fitted in
the same folds by the workflow's own fitting code. With `--sheet`, the sheet's labelled
patients outside the folds (a `test` split, an external `cohort`) are held out: each method
scores them with its five fold models (the mean of their probabilities, as the workflow's
`predict` does with fold models), each cohort reported apart. Their crops and features must
exist in the run (e.g. `snakemake results/crops/T001.npz results/features/T001.csv ...`).
Intervals: the summary's stratified bootstrap (evaluate section). Then, on each cohort,
each family against the paper's slices and each baseline against radiomics_t1c: the paired
AUC difference (paired stratified bootstrap) and DeLong's p (egfrmet.evaluation.compare), as
`--out`'s `_paired.csv`; `--scores OUT_scores.csv` prints both tables of a finished run again.
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
from egfrmet.config.settings import baseline_settings, lesion_crop_settings, model_settings, read_config, train_settings
from egfrmet.evaluation.compare import compare
from egfrmet.explain.gradcam import explain_patient, find_layer, shares
from egfrmet.inference.scoring import patient_probabilities
from egfrmet.io.files import crop_files, crop_layout
from egfrmet.metrics import aggregate_slices, auc, bootstrap_auc, bootstrap_settings
from egfrmet.paths import network_crops
from egfrmet.preprocessing import crop
from egfrmet.training import deep_features, networks
from egfrmet.training.data import load_instances
from egfrmet.training.model import predict_probabilities
from egfrmet.training.runtime import cpu_has_amx_bf16, device_name, inference, pick_device, set_up
from egfrmet.training.train import train_fold

OUT_OF_FOLD = "out-of-fold"


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


def run_family(results, config, family, table, held, device):
    """Out-of-fold and held-out patient scores of one family, seconds per epoch, lesion shares."""
    settings = model_settings(family_config(config, family))
    train = train_settings(config) | {"select": ["last"]}
    folder = os.path.join(results, Path(network_crops(networks.crop_extent(settings))).parent.name)
    crops = crop_files(sorted(glob.glob(os.path.join(folder, "*.npz"))))
    metric = config["evaluate"]["metric"]

    def predict(model, x):
        return predict_probabilities(model, x, device, batch_size=64, **inference(train, device)).numpy()

    new = load_instances(crops, held, settings) if len(held) else None  # x, y, owners, positions
    rows, seconds, shared, new_probs = [], [], [], []
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
        patients = list(val_part.patient_id)
        rows.append(val_part.assign(probability=aggregate_slices(predict(model, x_val), owners, patients, metric)))
        new_probs += [predict(model, new[0])] if new else []
        shared += lesion_shares(model.cpu().float(), crops, val_part.patient_id, settings, config["explain"])
        print(f"{family}: fold {fold} done ({np.mean(history.seconds):.1f} s an epoch)", flush=True)
    if new:  # the mean of the fold models' slice probabilities, then each patient's aggregate
        rows.append(held.assign(probability=patient_probabilities(new_probs, new[2], list(held.patient_id), metric)))
    extra = pd.DataFrame(shared).median().to_dict()
    return pd.concat(rows).assign(method=family), float(np.mean(seconds)), extra


def lesion_shares(model, crops, patients, settings, explain):
    """Each patient's Grad-CAM shares on lesion and brain (and the attention on lesion slices)."""
    layer = find_layer(model, explain["layer"])
    shared = []
    for p in patients:
        explained = explain_patient(model, crops[p], layer, settings, explain["target"])
        share = shares(explained["cams"], explained["masks"], explained["brain_masks"])
        if "attention" in explained:  # the weight on slices holding lesion
            area = crop_layout(crops[p])["lesion_area"]
            share["attention_on_lesion"] = float(explained["attention"][np.asarray(area) > 0].sum())
        shared.append(share)
    return shared


def deep_features_table(results, patients, weights, config):
    """The deep features of `patients` (their whole-lesion crops) and seconds per patient."""
    network = deep_features.body(config["baselines"]["deep_features"] | {"weights": weights})
    start = time.perf_counter()
    rows = [deep_features.extract(network, os.path.join(results, "crops_lesion", f"{p}.npz"), p) for p in patients]
    return pd.concat(rows).set_index("patient_id"), (time.perf_counter() - start) / len(rows)


def baseline_scores(features, table, held, methods, settings):
    """Out-of-fold scores of the baselines (the workflow's fitting code, in each fold), and the
    held-out patients' mean probability over the five fold fits: one fit a fold scores both."""

    def scored(model, method, patients):
        return model.predict_proba(baselines.matrix(method, features, None, patients.patient_id))[:, 1]

    rows = []
    for method in methods:
        new = []
        for fold in sorted(table.fold.unique()):
            train, val = table[table.fold != fold], table[table.fold == fold]
            X = baselines.matrix(method, features, None, train.patient_id)
            model = baselines.fit(method, X, train.label.to_numpy(), settings)
            rows.append(val.assign(probability=scored(model, method, val), method=method))
            new.append(scored(model, method, held) if len(held) else [])
        rows.append(held.assign(probability=np.mean(new, axis=0) if len(held) else [], method=method))
    return pd.concat(rows)


def held_out(sheet, table):
    """The sheet's labelled patients outside the folds, each with its cohort (`test` where none)."""
    if not sheet:
        return table.iloc[:0].assign(cohort=[])
    rows = pd.read_csv(sheet, sep="\t", dtype={"patient_id": str})
    rows = rows[rows.label.notna() & ~rows.patient_id.isin(table.patient_id)].copy()
    cohort = rows["cohort"] if "cohort" in rows else pd.Series(np.nan, index=rows.index)
    rows["cohort"] = cohort.fillna("test").replace("", "test")
    return rows.assign(label=rows.label.astype(int))[["patient_id", "label", "cohort"]]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", required=True)
    parser.add_argument("--configfile", nargs="+", required=True)
    parser.add_argument("--sheet", default="", help="the run's sheet: its patients outside the folds are held out")
    parser.add_argument("--families", nargs="+", default=list(networks.FAMILIES))
    parser.add_argument("--deep-weights", default="", help="the deep features' body (a state-dict file)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="")
    parser.add_argument("--scores", default="", help="a finished run's OUT_scores.csv: print its tables again")
    args = parser.parse_args()
    config = read_config(args.configfile)
    if args.scores:
        return report([pd.read_csv(args.scores, dtype={"patient_id": str})], {}, config, "")
    set_up(args.threads)
    device = pick_device(config["train"]["device"])
    table = read_folds(os.path.join(args.results, "folds.tsv"))
    table = table[table.repeat == table.repeat.min()] if "repeat" in table else table
    table = table.assign(cohort=OUT_OF_FOLD)
    held = held_out(args.sheet, table)
    lesion_crops(args.results, list(table.patient_id) + list(held.patient_id), config)
    features = baselines.read_features(sorted(glob.glob(os.path.join(args.results, "features", "*.csv"))))
    methods, timing = ["radiomics", "radiomics_t1c"], {}
    if args.deep_weights:
        deep, took = deep_features_table(args.results, features.index, args.deep_weights, config)
        features, methods = features.join(deep), [*methods, "deep_features"]
        timing["deep_features"] = {"seconds_per_patient": took}
    fit = baseline_settings(config) | {"deep_features": config["baselines"]["deep_features"]}
    scores = [baseline_scores(features, table, held, methods, fit)]
    amx = "with AMX-BF16" if cpu_has_amx_bf16() else "no AMX"
    print(f"{device_name(device)} ({amx}, {args.threads} threads); config {' '.join(args.configfile)}")
    report(scores, timing, config, args.out)
    for family in args.families:  # each family's figures as soon as it is done
        part, seconds, extra = run_family(args.results, config, family, table, held, device)
        scores.append(part)
        timing[family] = {"seconds_per_epoch": seconds} | extra
        report(scores, timing, config, args.out)


def report(scores, timing, config, out):
    """Each method's AUC with its interval on each cohort (and timings, shares), printed and written."""
    scores = pd.concat(scores)
    bootstrap = bootstrap_settings(config["evaluate"])
    rows = []
    for (method, cohort), part in scores.groupby(["method", "cohort"], sort=False):
        low, high = bootstrap_auc(part.label, part.probability, **bootstrap)
        figure = {"patients": len(part), "auc": auc(part.label, part.probability), "auc_low": low, "auc_high": high}
        rows.append({"method": method, "cohort": cohort} | figure)
        rows[-1] |= timing.get(method, {}) if cohort == OUT_OF_FOLD else {}
    summary = pd.DataFrame(rows)
    pairs = paired(scores, bootstrap)
    for table in (summary, pairs):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"), flush=True)
    if out:
        summary.to_csv(out, index=False)
        pairs.to_csv(out.replace(".csv", "_paired.csv"), index=False)
        scores.to_csv(out.replace(".csv", "_scores.csv"), index=False)


def paired(scores, bootstrap):
    """Each family against the paper's slices, each baseline against radiomics_t1c, per cohort."""
    reference = {method: "radiomics_t1c" for method in ("radiomics", "deep_features")}
    reference |= {family: "slices" for family in networks.FAMILIES if family != "slices"}
    scores = scores.rename(columns={"probability": "score"})
    by = {key: part.set_index("patient_id")[["label", "score"]] for key, part in scores.groupby(["method", "cohort"])}
    rows = []
    for (method, cohort), score in by.items():
        against = by.get((reference.get(method), cohort))
        if against is not None:
            rows.append({"method": method, "reference": reference[method], "cohort": cohort})
            rows[-1] |= compare(score, against, **bootstrap)
    return pd.DataFrame(rows)


if __name__ == "__main__":
    main()
