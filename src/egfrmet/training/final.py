"""The final model (`train.final: true`): one network trained on every cross-validation
patient (of the first repeat) with the leak-free choice of training length, for
`egfrmet scan` and `egfrmet predict` to apply once the method is validated.

The length is what the inner folds chose: the median over the folds of the epoch each fold's
inner folds chose, plus one, as the number of epochs; the one-cycle schedule runs over that
length and the last epoch is kept (with train.fine_tune, the frozen epochs first, as many as
the folds had, then the rest fine-tuned). No patient is held out, so the model has no figure of its
own: the cross-validation's figures are the ones to report for it.
"""

import json
import logging
from pathlib import Path

import numpy as np

from egfrmet.arguments import CROPS, MODEL_SETTINGS, SETTINGS, THREADS, command, required
from egfrmet.cohort.folds import of_repeat, read_folds
from egfrmet.errors import InputError
from egfrmet.io.files import crop_files
from egfrmet.training.data import load_instances
from egfrmet.training.train import annotate, prepare, terminal_progress, train_fold, write_outputs

log = logging.getLogger(__name__)


def final_epochs(choices):
    """The number of epochs for the final model from the folds' inner choices (.json)."""
    epochs = [json.loads(Path(path).read_text(encoding="utf-8"))["epoch"] for path in choices]
    if not epochs:
        raise InputError("train.final needs the inner folds' choices (train.select with inner_cv or inner_ensemble)")
    return int(np.median(epochs)) + 1


def of_length(settings, epochs):
    """The train settings for a training of `epochs` in all: frozen epochs as many as the
    folds had (or fewer), then fine-tuning ones (when train.fine_tune) for the rest."""
    if "fine_tune" not in settings:
        return settings | {"epochs": epochs}
    frozen = min(epochs, settings["epochs"])
    return settings | {"epochs": frozen, "fine_tune": settings["fine_tune"] | {"epochs": epochs - frozen}}


@command(
    "train the final model on every cross-validation patient for the length the inner folds chose",
    required("--folds", "folds table (.tsv)"),
    CROPS,
    (["--choices"], {"nargs": "+", "required": True, "help": "every fold's inner_choice.json"}),
    MODEL_SETTINGS,
    SETTINGS,
    THREADS,
    required("--out-model", "state dict to write (.pt)"),
    required("--out-history", "per-epoch log to write (.csv)"),
)
def run(*, folds, crops, choices, model_settings, settings, threads, out_model, out_history):
    """The `egfrmet train-final` subcommand."""
    epochs = final_epochs(choices)
    settings = of_length(settings, epochs) | {"select": ["last"], "predict_with": "last"}
    name = f"final model ({epochs} epochs)"
    device, precision = prepare(name, model_settings, settings, threads)
    table = of_repeat(read_folds(folds), 0)  # the first repeat's folds start at 0
    x, y, _, _ = load_instances(crop_files(crops), table, model_settings)
    log.info("final model: %d patients, %d slices (%d positive), %d epochs", len(table), len(y), int(y.sum()), epochs)
    history, kept = train_fold(
        x,
        y,
        x[:0],
        y[:0],
        model_settings=model_settings,
        settings=settings,
        device=device,
        selections=["last"],
        progress=terminal_progress(epochs),
    )
    history = annotate(history, kept, precision, device, name)
    write_outputs(history, kept, settings, out_model, out_history, "", [], [], None, {})
