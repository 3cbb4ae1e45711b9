"""What each selection's figure is worth on patients that no model or selection ever saw.

    python benchmarks/new_patients.py --out /tmp/new_patients --configfile pre.yaml

Runs this checkout's workflow in OUT (`--directory`) on the demo cohort: its 59
cross-validation patients unchanged, plus `--n-new` generated held-out patients
(`synth.make_sheet`'s n_test), with every selection (`--configfile` files go on top, e.g. the
paper's regime: `model: {weights: r50.pth, input: imagenet}`, `train: {lr: 0.04}`). Then the
held-out patients are scored by each selection's models: `inner_ensemble` by every fold's
inner models, each outer selection by its fold models. An outer run keeps one model per fold
(`train.predict_with`'s), so the outer trainings run once more for each outer selection; on a
CPU a training repeats bit for bit, which the script checks on the histories.

Prints, per selection, the pooled out-of-fold AUC the run reports (summary.csv, with its
interval) beside the AUC on the new patients (mean of the selection's models, with the
summary's stratified bootstrap interval) and each fold's models alone; writes OUT/new_patients.csv.
"""

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from sklearn.metrics import roc_auc_score

from egfrmet.demo import synth
from egfrmet.metrics import bootstrap_auc
from egfrmet.training.runtime import device_name

REPO = Path(__file__).resolve().parents[1]
# inner_cv first: its run trains everything; inner_ensemble then needs only `predict`
ORDER = ["inner_cv", "inner_ensemble", "last", "best_val_accuracy"]
CURVES = ["epoch", "train_loss", "val_loss", "val_acc", "val_auc"]  # what a repeated training must repeat


def write_inputs(out, config, n_new, n_new_positive):
    """OUT/samples.tsv (the demo sheet with n_new held-out patients) and the overlay config."""
    sheet = synth.make_sheet(**(config["synth"]["sheet"] | {"n_test": n_new, "n_test_positive": n_new_positive}))
    sheet.to_csv(out / "samples.tsv", sep="\t", index=False)
    overlay = {
        "samples": str(out / "samples.tsv"),
        "train": {"select": ["best_val_accuracy", "inner_cv", "inner_ensemble", "last"], "predict_with": ORDER[0]},
        "baselines": {"methods": []},
        "explain": {"enabled": False},
    }
    (out / "overlay.yaml").write_text(yaml.safe_dump(overlay), encoding="utf-8")


def snakemake(out, configfiles, cores, *extra):
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(out)]
    command += ["--cores", str(cores), "--configfile", str(REPO / "config" / "demo.yaml"), *configfiles]
    command += [str(out / "overlay.yaml"), *extra]
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def score_every_selection(out, configfiles, cores):
    """OUT/new_patients_<selection>.csv: the held-out patients scored by each selection."""
    histories = {}
    for selection in ORDER:
        predict_with = ["--config", f"train={{predict_with: {selection}}}", "--rerun-triggers", "mtime"]
        if selection == ORDER[0]:
            snakemake(out, configfiles, cores)
        elif selection == "inner_ensemble":
            snakemake(out, configfiles, cores, *predict_with, "--forcerun", "predict", "--until", "predict")
        else:  # the outer trainings again, keeping this selection's model
            snakemake(out, configfiles, cores, *predict_with, "--forcerun", "train", "predict", "--until", "predict")
        paths = sorted((out / "results" / "models").glob("fold*/history.csv"))
        histories[selection] = [pd.read_csv(p)[CURVES] for p in paths]
        (out / f"new_patients_{selection}.csv").write_bytes((out / "results/predictions/predictions.csv").read_bytes())
    first = histories[ORDER[0]]
    repeated = all(h.equals(f) for each in histories.values() for h, f in zip(each, first))
    print(f"outer trainings repeated bit for bit: {repeated}")


def table(out, metric):
    summary = pd.read_csv(out / "results" / "evaluation" / "summary.csv")
    summary = summary[(summary["aggregate"] == metric) & (summary["subset"] == "all")]
    rows = []
    for selection in ORDER:
        scored = pd.read_csv(out / f"new_patients_{selection}.csv")
        scored = scored[scored.label.notna()]
        labels = scored.label.astype(int).to_numpy()
        low, high = bootstrap_auc(labels, scored.probability.to_numpy(), resamples=2000, level=0.95, seed=0)
        models = [c for c in scored.columns if c.startswith("fold_")]
        folds = sorted({c.split("_")[1] for c in models})
        per_fold = [
            roc_auc_score(labels, scored[[c for c in models if c.split("_")[1] == f]].mean(axis=1)) for f in folds
        ]
        reported = summary[summary.selection == selection].iloc[0]
        rows.append(
            {
                "selection": selection,
                "out_of_fold_auc": reported.auc,
                "out_of_fold_low": reported.auc_low,
                "out_of_fold_high": reported.auc_high,
                "new_patients": len(scored),
                "new_positive": int(labels.sum()),
                "new_auc": roc_auc_score(labels, scored.probability),
                "new_low": low,
                "new_high": high,
                "per_fold_new_auc": " / ".join(f"{a:.2f}" for a in per_fold),
                "per_fold_mean": float(np.mean(per_fold)),
                "models": scored.models.iloc[0],
            }
        )
    return pd.DataFrame(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="working directory of the run (created)")
    parser.add_argument("--configfile", nargs="*", default=[], help="config overlays on config/demo.yaml")
    parser.add_argument("--n-new", type=int, default=100, help="held-out generated patients")
    parser.add_argument("--n-new-positive", type=int, default=27)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--table-only", action="store_true", help="print the table of a finished run in OUT")
    args = parser.parse_args()

    print(device_name(torch.device("cpu")))
    configfiles = [str(Path(p).resolve()) for p in args.configfile]
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text(encoding="utf-8"))
    if not args.table_only:
        args.out.mkdir(parents=True, exist_ok=True)
        write_inputs(args.out.resolve(), config, args.n_new, args.n_new_positive)
        score_every_selection(args.out.resolve(), configfiles, args.cores)
    result = table(args.out, config["evaluate"]["metric"])
    result.to_csv(args.out / "new_patients.csv", index=False)
    print(result.to_string(index=False, float_format=lambda v: f"{v:.2f}"))


if __name__ == "__main__":
    main()
