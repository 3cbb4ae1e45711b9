"""Network families: what one instance of a patient is (a crop slice, a slice with its
neighbours as channels, a bag of every lesion slice), how a network of the family is built
from the model settings, how its instances' scores become the patient's, and what explains it.

The paper's 2-D slices are one family among others: loaders, selection, prediction, the bundle
and Grad-CAM ask the family (egfrmet.training.networks.base.Family) and never branch on its
name. A family is chosen by `model.family`; adding one is a module with a FAMILY and a line
here. This module reads no torch, so that the workflow can ask which crops a family reads.
"""

import importlib

# family -> (its module, the crops it reads: middle, the paper's centre slices and
# neighbours, or lesion, every slice the lesion spans: settings.lesion_crop_settings)
FAMILIES = {
    "slices": ("egfrmet.training.networks.slices", "middle"),
    "stack": ("egfrmet.training.networks.stack", "lesion"),
    "attention": ("egfrmet.training.networks.attention", "lesion"),
}


def family_name(model_settings):
    """model.family of settings.model_settings (absent: the paper's slices)."""
    name = model_settings.get("family", "slices")
    if name not in FAMILIES:
        raise ValueError(f"model.family: unknown network family {name!r} (one of {', '.join(FAMILIES)})")
    return name


def crop_extent(model_settings):
    """Which crops the family reads: middle (the paper's slices) or lesion (every slice)."""
    return FAMILIES[family_name(model_settings)][1]


def family(model_settings):
    """The family (egfrmet.training.networks.base.Family) of `model_settings`."""
    return importlib.import_module(FAMILIES[family_name(model_settings)][0]).FAMILY


def build(model_settings):
    """An untrained network of the model settings' family (settings.model_settings)."""
    return family(model_settings).build(model_settings)


def load_model(path, model_settings, device):
    """A trained network: its family and architecture from the settings, the weights from its
    state dict (read with weights_only: no code runs on load)."""
    import torch

    from egfrmet.training.model import input_mode

    # the weights come from the file: decide the input as the training's settings did
    model = build(model_settings | {"input": input_mode(model_settings), "weights": "none"})
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.to(device)
