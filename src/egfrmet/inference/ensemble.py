"""The leak-free `inner_ensemble` selection's scores: one outer fold's validation patients
scored by the mean probability of its inner models, each kept at the epoch of its own best
inner validation (egfrmet.training.selection), through egfrmet.inference.scoring as predict and scan score new
patients. Nothing here chooses: the choices were made inside the outer fold's training
patients, so the outer-validation crops are read only to be scored."""

import logging

import pandas as pd

from egfrmet.arguments import CROPS, MODEL_SETTINGS, SETTINGS, THREADS, command, required
from egfrmet.cohort.folds import of_repeat, read_folds, repeat_number
from egfrmet.inference.scoring import slice_probabilities
from egfrmet.io.files import atomic_output, crop_files
from egfrmet.training.data import load_instances
from egfrmet.training.networks import load_model
from egfrmet.training.runtime import inference, pick_device, set_up

log = logging.getLogger(__name__)

SELECTION = "inner_ensemble"


@command(
    "score one fold's validation patients with the mean of its inner models (leak-free inner_ensemble)",
    required("--fold", "the outer fold whose validation patients are scored", type=int),
    required("--folds", "folds table (.tsv)"),
    CROPS,
    (["--models"], {"nargs": "+", "required": True, "help": "the fold's inner models (.pt)"}),
    MODEL_SETTINGS,
    SETTINGS,
    THREADS,
    required("--out", "validation slice probabilities to write (.csv)"),
)
def run(*, fold, folds, crops, models, model_settings, settings, threads, out):
    """The `egfrmet ensemble` subcommand: val_slices rows (selection inner_ensemble) of outer
    fold `fold` of `folds` (.tsv) from the inner `models` (.pt)."""
    set_up(threads)
    device = pick_device(settings["device"])
    table = of_repeat(read_folds(folds), fold)
    x, y, patients, positions = load_instances(crop_files(crops), table[table.fold == fold], model_settings)
    inner_models = [load_model(path, model_settings, device) for path in models]
    # the ensemble's slice probabilities: evaluate aggregates them per patient, as scoring does
    probs = slice_probabilities(
        inner_models, x, device, batch_size=2 * settings["batch_size"], **inference(settings, device)
    ).mean(0)
    slices = pd.DataFrame(
        {
            "selection": SELECTION,
            "patient_id": patients,
            "slice": positions,
            "probability": probs.numpy(),
            "label": y.numpy(),
            "fold": fold,
            "repeat": repeat_number(table),
        }
    )
    with atomic_output(out) as tmp:
        slices.to_csv(tmp, index=False)
    log.info("fold %d: %d validation slices scored by the mean of %d inner models", fold, len(slices), len(models))
