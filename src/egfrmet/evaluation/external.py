"""External validation: each named cohort (the sheet's `cohort`) scored by the locked model a
run ships (its bundle, egfrmet.inference.predict), on rows of its own.

Per cohort with labels of both classes: AUC, sensitivity, specificity and accuracy at the
bundle's threshold with stratified bootstrap intervals, the Brier score, calibration-in-the-
large and calibration slope (egfrmet.metrics.calibration_fit), a reliability plot and decision
curves. Nothing here is fitted on the cohort: the figures are those of the model as it left
the training run; the rows say `external` and name the cohort, so they never mix with the
training cohort's out-of-fold rows.
"""

import json
import logging
import os

import pandas as pd

from egfrmet import methods
from egfrmet.arguments import SETTINGS, command, required
from egfrmet.evaluation.decision import decision_figure, decision_table, thresholds
from egfrmet.evaluation.figures import calibration_figure
from egfrmet.evaluation.summary import COLUMNS, EXTERNAL, summarise
from egfrmet.io.files import write_csv
from egfrmet.metrics import bootstrap_settings

log = logging.getLogger(__name__)


def methods_of(predictions, manifest):
    """{row name: probability column}: the shipped method, and beside it the network when the
    method weighs one (its fold models' mean)."""
    name = manifest["method"]["name"]
    out = {name: "probability"}
    if manifest["network"] and manifest["method"]["kind"] != "network" and "network" in predictions:
        out[methods.network_alone(manifest["network"]["selection"])] = "network"
    return out


def labelled_cohorts(predictions):
    """(cohort, its rows) of the labelled patients of named cohorts, by name."""
    labelled = predictions[predictions.label.notna() & (predictions.cohort.fillna("") != "")]
    return labelled.groupby("cohort", sort=True)


def cohort_rows(predictions, manifest, settings):
    """summary.csv's rows of every labelled cohort of `predictions` (predict's table)."""
    options = {"threshold": manifest["threshold"]} | bootstrap_settings(settings)
    rows = []
    for cohort, part in labelled_cohorts(predictions):
        if part.label.nunique() < 2:
            log.warning("cohort %s: %d patients of one class: no AUC or calibration to report", cohort, len(part))
            continue
        for name, column in methods_of(part, manifest).items():
            scores = pd.DataFrame({"label": part.label.astype(int), "patient": part[column].astype(float)})
            rows.append(
                summarise(scores, selection=name, aggregates=["patient"], validation=EXTERNAL, cohort=cohort, **options)
            )
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=COLUMNS)


def cohort_figures(predictions, manifest, settings, folder):
    """Each cohort's reliability plot and decision curves, under `folder`/<cohort>/."""
    for cohort, part in labelled_cohorts(predictions):
        out = os.path.join(folder, str(cohort))
        methods = methods_of(part, manifest)
        tables = {
            name: pd.DataFrame({"label": part.label.astype(int), "patient": part[c]}) for name, c in methods.items()
        }
        where = f"external cohort {cohort}, {len(part)} patients"
        calibration_figure(
            tables,
            "patient",
            settings["calibration_bins"],
            os.path.join(out, "calibration.png"),
            f"Calibration ({where})",
        )
        curves = decision_table(
            {name: (t.label, t.patient) for name, t in tables.items()}, thresholds(settings["decision_curve"])
        )
        write_csv(curves, os.path.join(out, "decision_curve.csv"))
        decision_figure(curves, os.path.join(out, "decision_curve.png"), title=f"Decision curves ({where})")


@command(
    "validate the shipped model on each external cohort: summary rows, calibration, decision curves",
    required("--predictions", "predictions.csv of egfrmet predict"),
    required("--bundle", "the model bundle that scored them (its manifest names the method)"),
    SETTINGS,
    required("--out", "the external cohorts' summary rows to write (.csv)"),
    required("--out-dir", "folder of each cohort's figures (<cohort>/calibration.png, decision_curve.png)"),
)
def run(*, predictions, bundle, settings, out, out_dir):
    """The `egfrmet external` subcommand: `settings` is the evaluate config section."""
    from egfrmet.inference.bundle import read_manifest

    manifest = read_manifest(bundle)
    table = pd.read_csv(predictions, dtype={"patient_id": str, "cohort": str})
    rows = cohort_rows(table, manifest, settings)
    cohort_figures(table, manifest, settings, out_dir)
    write_csv(rows, out)
    log.info("external cohorts:\n%s", rows[["selection", "cohort", "n_patients", "auc", "calibration_slope"]])
    log.info("bundle %s", json.dumps(manifest["method"]))
