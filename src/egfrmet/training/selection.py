"""Model selection: which epoch of a fold's training each selection keeps.

- `best_val_accuracy`, the paper's: the first epoch of best accuracy on the validation fold.
  That fold is also the one reported, so its figures are optimistic.
- `inner_cv`, leak-free: inside the outer fold's training patients, stratified inner folds
  each train the same recipe and validate on their own held-out part; the epoch whose
  `inner.metric`, averaged over the inner folds, is best is the one kept from the outer run.
  Nothing that chooses reads an outer-validation patient.
- `inner_ensemble`, leak-free: the same inner trainings, each kept at the epoch of its own
  best inner-validation `inner.metric`; the outer-validation patients are scored by the
  mean of the k inner models' probabilities (egfrmet.inference.ensemble). No outer training is used.
- `last`: the last epoch; nothing is chosen.
"""

import json
import logging

import numpy as np
import pandas as pd

from egfrmet import methods
from egfrmet.arguments import command, required
from egfrmet.io.files import atomic_output

log = logging.getLogger(__name__)

SELECTIONS = ("best_val_accuracy", "inner_cv", "inner_ensemble", "last")
# What each inner training keeps for inner_ensemble: not a selection of outer models.
INNER_BEST = "best_inner_metric"
# Selections whose models come from the outer training of each fold.
OUTER = ("best_val_accuracy", "inner_cv", "last")
LOWER_IS_BETTER = {"val_loss"}


def better(value, than, metric):
    """Strictly better (NaN never is): ties keep the earlier epoch."""
    return value < than if metric in LOWER_IS_BETTER else value > than


def keeps(selection, row, kept, chosen_epoch, metric="val_auc"):
    """Whether `selection` keeps this epoch's model (`kept`: what it holds so far, or None)."""
    if selection == "best_val_accuracy":
        return kept is None or row["val_acc"] > kept["row"]["val_acc"]
    if selection == "last":
        return True
    if selection == "inner_cv":
        return row["epoch"] == chosen_epoch
    if selection == INNER_BEST:
        return kept is None or better(row[metric], kept["row"][metric], metric)
    raise ValueError(f"unknown selection {selection!r} (one of {', '.join(SELECTIONS)})")


def outer_model_selection(select, predict_with):
    """Whose model an outer training writes as model.pt: `predict_with`'s; for fusion or
    auto, `last` (the network they weigh) when selected; else (inner_ensemble, whose models
    are the inner ones) the first outer selection of `select`."""
    if predict_with in OUTER:
        return predict_with
    if methods.deployed(predict_with) and "last" in select:
        return "last"
    return next(name for name in select if name in OUTER)


def choose_epoch(histories, metric):
    """The epoch whose `metric`, averaged over the inner folds' histories, is best (the
    earliest on ties), and that average per epoch."""
    curve = pd.concat([h.set_index("epoch")[metric] for h in histories], axis=1).mean(axis=1)
    values = -curve.to_numpy() if metric in LOWER_IS_BETTER else curve.to_numpy()
    return int(curve.index[int(np.nanargmax(values))]), curve


@command(
    "the epoch the inner folds choose for one outer fold (leak-free selection)",
    (["--histories"], {"nargs": "+", "required": True, "help": "the inner folds' history.csv"}),
    required("--metric", "validation metric to maximise (val_loss: minimise)"),
    required("--out", "choice to write (.json)"),
)
def run(*, histories, metric, out):
    """The `egfrmet choose-epoch` subcommand: the inner folds' choice for one outer fold."""
    epoch, curve = choose_epoch([pd.read_csv(path) for path in histories], metric)
    choice = {"epoch": epoch, "metric": metric, "inner_folds": len(histories), "mean_by_epoch": curve.round(6).tolist()}
    log.info("inner folds chose epoch %d (mean %s %.4f)", epoch, metric, curve.loc[epoch])
    with atomic_output(out) as tmp:
        tmp.write_text(json.dumps(choice, indent=2), encoding="utf-8")
