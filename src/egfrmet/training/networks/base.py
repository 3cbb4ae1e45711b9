"""What a network family says (egfrmet.training.networks): the default answers are the paper's,
a 2-D network scoring each crop slice on its own."""

import numpy as np
import torch

from egfrmet.training.model import create_model, takes_lesion_mask
from egfrmet.training.networks import FAMILIES


def picture_channels(model_settings):
    """Channels of a crop slice that are pictures (the T1c and each further sequence), not
    the lesion mask or the presence flags after them (files.crop_channels)."""
    extras = int(takes_lesion_mask(model_settings)) + model_settings.get("presence_channels", 0)
    return model_settings.get("channels", 1) - extras


class Family:
    """A network family. An instance is one input of the network: an array (channels, h, w)
    for a 2-D one, (slices, channels, h, w) for a bag; a patient has one or more."""

    name = "slices"
    # what a patient's score is made of, for the model card
    description = "the {metric} of its 5 centre slices' probabilities (the paper's)"
    # whether mixup applies (it mixes two instances' pictures pixel by pixel)
    mixes = True

    def instances(self, channels, layout, model_settings):
        """A patient's instances from its crop channels (n, channels, h, w; files.crop_channels)
        and its crops' `layout` (files.crop_layout: lesion, lesion_area): here, each slice."""
        return channels

    def positions(self, layout):
        """The crop slice each instance of a patient is drawn on (val_slices.csv's `slice`)."""
        return self.drawn(layout)

    def join(self, instances):
        """Many patients' instances as one array."""
        return np.concatenate(instances)

    def build(self, model_settings):
        """The network, untrained (its body pretrained as model.weights says)."""
        return create_model(**self.create_options(model_settings))

    def create_options(self, model_settings):
        """create_model's settings: the model settings less the family and its section."""
        return {key: value for key, value in model_settings.items() if key != "family" and key not in FAMILIES}

    def pictures(self, model_settings):
        """How many leading channels of an instance are pictures (augmentation's contrast
        changes those only)."""
        return picture_channels(model_settings)

    def batch_size(self, settings, model_settings):
        """Instances per training batch."""
        return settings["batch_size"]

    def drawn(self, layout):
        """Indices of the crop slices its explanation draws, one per map (Grad-CAM's)."""
        return np.arange(len(layout["lesion_area"]))

    @torch.no_grad()
    def explanation(self, model, x, target):
        """What an explanation of one patient's instances `x` shows beside its maps, per drawn
        slice: `probability` (P(EGFR+)), `target` (the class its map explains: predicted or
        1) and for a family that weighs slices their `attention`; and `targets`, the class
        of each instance, which Grad-CAM explains."""
        logits = model.eval()(x).float()
        probability = torch.softmax(logits, 1)[:, 1]
        targets = logits.argmax(1) if target == "predicted" else torch.ones(len(x), dtype=torch.long)
        return {"probability": probability.numpy(), "target": targets.numpy(), "targets": targets.tolist()}
