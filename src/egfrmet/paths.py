"""Where the workflow keeps what several rules (or a rule and `egfrmet scan`) read: one
template each, so that the writer and its readers never disagree."""

import re
from pathlib import Path

# A sheet's RTSTRUCT or SEG mask placed on the T1c's grid (column: mask or brain_mask).
DICOM_MASK = "results/masks/{column}/{patient}.nii.gz"
# Each patient's files that stages after preprocessing read.
CROPS = "results/crops/{patient}.npz"
# every slice the lesion spans (settings.lesion_crop_settings), for the whole-lesion networks
LESION_CROPS = "results/crops_lesion/{patient}.npz"
FEATURES = "results/features/{patient}.csv"
DEEP_FEATURES = "results/deep_features/{patient}.csv"  # the deep_features baseline's (egfrmet.training.deep_features)
CLINICAL = "results/clinical/{patient}.json"

FOLD_MODEL = "results/models/fold{fold}/model.pt"
INNER_MODEL = "results/models/fold{fold}/inner{inner}/model.pt"
DEPLOYED = "results/models/deployed.json"  # rule deploy's fitted method (predict_with fusion or auto)
BUNDLE = "results/bundle"  # what new patients get, with its settings (egfrmet.inference.bundle)


def network_crops(extent):
    """The crops a network family reads (egfrmet.training.networks.crop_extent)."""
    return LESION_CROPS if extent == "lesion" else CROPS


def prediction_models(predict_with):
    """The template of the models that score new patients: every fold's inner models for
    inner_ensemble, else each fold's model.pt (for fusion and auto, the network they weigh)."""
    return INNER_MODEL if predict_with == "inner_ensemble" else FOLD_MODEL


def model_name(path):
    """A model's name: fold_2 for results/models/fold2/model.pt, fold_2_inner_1 for an
    inner model (results/models/fold2/inner1/model.pt), else the file's or folder's."""
    parts = [p for p in Path(path).parent.parts if re.fullmatch(r"(fold|inner)\d+", p)]
    named = Path(path).parent.name if Path(path).name == "model.pt" else Path(path).stem  # e.g. final
    return "_".join(re.sub(r"(\D+)(\d+)", r"\1_\2", p) for p in parts) or named
