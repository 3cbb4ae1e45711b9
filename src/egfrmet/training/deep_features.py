"""Deep features (the `deep_features` baseline): what a frozen, pretrained 2-D body sees in a
lesion. Each slice the lesion spans (the whole-lesion crops, results/crops_lesion; the T1c)
goes through the body as the paper's pictures went (ImageNet input), its last feature map is
averaged over space, and the patient's features are the mean over its lesion slices. No label
is read and no gradient is taken: the features are a fixed function of the image, and the
fitting (egfrmet.baselines.methods: standardise, PCA, L2 logistic regression with inner CV)
happens inside each fold on its training patients, as radiomics' does.
"""

import logging

import numpy as np
import pandas as pd
import torch

from egfrmet.arguments import PATIENT, SETTINGS, THREADS, command, required
from egfrmet.baselines.methods import DEEP_PREFIX
from egfrmet.errors import InputError
from egfrmet.io.files import atomic_output, crop_layout

log = logging.getLogger(__name__)


def body(settings):
    """The frozen body: timm's `arch` with `weights` (imagenet from the hub, or a state-dict
    file), behind the ImageNet input of the paper's pictures, in eval mode."""
    from egfrmet.training.model import input_body

    network = input_body(**{key: settings[key] for key in ("arch", "weights", "pretrained_tag")}, input="imagenet")
    network = network.eval()
    for parameter in network.parameters():
        parameter.requires_grad_(False)
    return network


@torch.inference_mode()
def slice_features(network, slices, batch_size=64):
    """(slices, features): each T1c slice (slices, h, w) through `network`, its last feature
    map's spatial mean."""
    out = []
    for start in range(0, len(slices), batch_size):
        x = torch.from_numpy(np.ascontiguousarray(slices[start : start + batch_size, None], dtype=np.float32))
        out.append(network(x).float().mean(dim=(2, 3)))
    return torch.cat(out).numpy()


def lesion_slices(crops):
    """The T1c crop slices that hold lesion (whole-lesion crops: each lesion's span)."""
    with np.load(crops) as data:
        slices = data["slices"]
    return slices[np.asarray(crop_layout(crops)["lesion_area"]) > 0]


def extract(network, crops, patient):
    """One patient's row: patient_id and the mean deep feature over its lesion slices."""
    slices = lesion_slices(crops)
    if len(slices) == 0:
        raise InputError("the crops hold no lesion slice", patient=patient, path=str(crops))
    mean = slice_features(network, slices).mean(0)
    return pd.DataFrame(
        [[patient, *mean]], columns=["patient_id", *(f"{DEEP_PREFIX}{i:04d}" for i in range(len(mean)))]
    )


@command(
    "deep features of a patient's lesion slices by a frozen pretrained body",
    PATIENT,
    required("--crops", "the patient's whole-lesion crops (.npz)"),
    SETTINGS,
    THREADS,
    required("--out", "features to write (.csv)"),
)
def run(patient, *, crops, settings, out, threads=1):
    """The `egfrmet deep-features` subcommand. `settings`: arch, weights, pretrained_tag
    (settings.deep_feature_settings)."""
    from egfrmet.training.runtime import set_up

    set_up(threads, hub=settings["weights"] == "imagenet")
    table = extract(body(settings), crops, patient)
    log.info("patient %s: %d deep features of %s", patient, table.shape[1] - 1, settings["arch"])
    with atomic_output(out) as tmp:
        table.to_csv(tmp, index=False)
