"""Which lesion region serves the radiomics baseline better: the whole lesion in 3-D or only
its 5 crop slices. Measured on a finished run's normalised images, crops and folds.

    python benchmarks/radiomics_region.py --results results --configfile config/demo.yaml

Extracts the features of every cross-validation patient both ways (egfrmet.baselines.features), fits
and scores the radiomics baseline on the run's folds (egfrmet.baselines.methods) and prints each
region's pooled out-of-fold AUC with the summary's stratified bootstrap interval, and the
extraction time per patient.
"""

import argparse
import time
from pathlib import Path

import pandas as pd

from egfrmet.baselines import features
from egfrmet.baselines import methods as baselines
from egfrmet.cohort.folds import read_folds
from egfrmet.config.settings import feature_settings, read_config
from egfrmet.evaluation.summary import summarise


def region_features(results, patients, settings):
    rows, start = [], time.perf_counter()
    for patient in patients:
        files = {
            "image": str(results / "normalised" / f"{patient}.nii.gz"),
            "lesion": str(results / "normalised" / f"{patient}_lesion.nii.gz"),
            "crops": str(results / "crops" / f"{patient}.npz"),
        }
        rows.append(features.patient_features(patient, settings=settings, **files))
    seconds = (time.perf_counter() - start) / len(patients)
    return pd.DataFrame(rows).set_index("patient_id"), seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--configfile", nargs="*", default=[])
    args = parser.parse_args()
    config = read_config(["config/config.yaml", *args.configfile])
    folds = read_folds(args.results / "folds.tsv")
    patients = sorted(set(folds.patient_id))
    evaluate = config["evaluate"]
    for region in ("lesion", "slices"):
        settings = feature_settings(config)
        settings["radiomics"] = settings["radiomics"] | {"region": region}
        table, seconds = region_features(args.results, patients, settings)
        scores = pd.concat(
            baselines.fold_scores(table, folds, fold, ["radiomics"], config["baselines"])
            for fold in sorted(set(folds.fold))
        )
        per_patient = scores.groupby("patient_id").agg(label=("label", "first"), patient=("probability", "mean"))
        row = summarise(
            per_patient,
            selection=f"radiomics ({region})",
            aggregates=["patient"],
            threshold=evaluate["threshold"],
            resamples=evaluate["bootstrap"],
            level=evaluate["ci_level"],
            seed=evaluate["seed"],
        ).iloc[0]
        print(
            f"region {region:7s}: pooled AUC {row.auc:.3f} ({row.auc_low:.3f}-{row.auc_high:.3f}), "
            f"Brier {row.brier:.3f}, {len(patients)} patients; extraction {seconds:.2f} s per patient",
            flush=True,
        )


if __name__ == "__main__":
    main()
