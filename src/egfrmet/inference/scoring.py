"""How an ensemble of models scores patients, one way for every path: the `inner_ensemble`
out-of-fold rows (egfrmet.inference.ensemble), `egfrmet predict`, `egfrmet scan` and the final model.

Each model gives every instance (a slice, for the paper's network family) a positive-class
probability; the ensemble's instance probability is the mean over models; a patient's
probability is the aggregate of its instances (the `evaluate.metric`, median by default; a
bag is one instance), as for any single model. So the figure the summary
reports for an ensemble is the figure of the predictor that predict and scan ship.

The order (mean over models, then aggregate over slices) was chosen by measurement against
the other one, each model's aggregate then their mean: `benchmarks/ensemble_order.py`.
"""

import numpy as np
import pandas as pd

from egfrmet.metrics import aggregate_slices

ORDERS = ("mean_then_aggregate", "aggregate_then_mean")
ORDER = "mean_then_aggregate"


def slice_probabilities(models, x, device, *, batch_size, bf16, channels_last):
    """(models, slices): each model's positive-class probability of each slice of `x`."""
    import torch  # here, not at import: the slice aggregates serve torch-free steps (egfrmet.baselines.fusion)

    from egfrmet.training.model import predict_probabilities

    runs = [
        predict_probabilities(model, x, device, batch_size=batch_size, bf16=bf16, channels_last=channels_last)
        for model in models
    ]
    return torch.stack(runs)


def patient_probabilities(probs, owner, patients, aggregate, order=ORDER):
    """One probability per patient of `patients` from `probs` (models, slices), `owner[i]`
    being slice i's patient: by `order` (one of ORDERS)."""
    probs = np.asarray(probs, dtype=np.float64)
    if order == "mean_then_aggregate":
        return aggregate_slices(probs.mean(0), owner, patients, aggregate)
    if order == "aggregate_then_mean":
        return np.mean([aggregate_slices(row, owner, patients, aggregate) for row in probs], axis=0)
    raise ValueError(f"unknown ensemble order {order!r} (one of {', '.join(ORDERS)})")


def patient_table(probs, owner, patients, aggregate, names):
    """A row per patient: the ensemble's `probability`, then each model's own aggregate
    (columns `names`), which say how far the models agree."""
    table = pd.DataFrame({"patient_id": list(patients)})
    table["probability"] = patient_probabilities(probs, owner, patients, aggregate)
    for name, row in zip(names, np.asarray(probs, dtype=np.float64), strict=True):
        table[name] = aggregate_slices(row, owner, patients, aggregate)
    return table


def ensemble_scores(
    models, crops, patients, *, model_settings, aggregate, device, batch_size, bf16, channels_last, names=None
):
    """The ensemble's probability and each model's aggregate (columns `names`, default
    fold_0, fold_1, ...) for each patient id in `patients`, from their crops files (`crops`:
    {patient_id: path}), read as the models' family takes them (`model_settings`)."""
    import torch

    from egfrmet.training.data import read_instances
    from egfrmet.training.networks import family

    names = names or [f"fold_{k}" for k in range(len(models))]
    stacks = [read_instances(crops, p, model_settings)[0] for p in patients]
    owner = [p for p, stack in zip(patients, stacks) for _ in range(len(stack))]
    x = torch.from_numpy(family(model_settings).join(stacks))
    probs = slice_probabilities(models, x, device, batch_size=batch_size, bf16=bf16, channels_last=channels_last)
    return patient_table(probs.numpy(), owner, patients, aggregate, names)
