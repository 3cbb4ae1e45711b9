"""2.5-D: each slice the lesion spans is one instance, its neighbours `neighbours` slices
above and below as more channels (for a pretrained body with the T1c alone: the three
colour channels); the patient's score is the aggregate of its instances' (evaluate.metric).
It reads the whole-lesion crops, whose context slices give the outermost lesion slices their
neighbours."""

import numpy as np

from egfrmet.training.networks.base import Family, picture_channels


def neighbour_indices(lesion, centre, neighbours):
    """Crop-slice indices of `centre` and its neighbours, within its own lesion's slices
    (`lesion`: each crop slice's lesion number), clamped at that lesion's first and last."""
    own = np.flatnonzero(lesion == lesion[centre])
    offsets = np.arange(-neighbours, neighbours + 1)
    return np.clip(centre + offsets, own[0], own[-1])


class Stack(Family):
    name = "stack"
    description = "the {metric} of the probabilities of its lesion slices, each with its neighbours (2.5-D)"

    def instances(self, channels, layout, model_settings):
        pictures = picture_channels(model_settings)
        neighbours = model_settings["stack"]["neighbours"]
        centres = self.drawn(layout)
        out = []
        for centre in centres:
            stacked = channels[neighbour_indices(layout["lesion"], centre, neighbours), :pictures]
            out.append(np.concatenate([stacked.reshape(-1, *channels.shape[2:]), channels[centre, pictures:]]))
        return np.stack(out)

    def create_options(self, model_settings):
        pictures = picture_channels(model_settings)
        extras = model_settings.get("channels", 1) - pictures
        channels = (2 * model_settings["stack"]["neighbours"] + 1) * pictures + extras
        return super().create_options(model_settings) | {"channels": channels}

    def pictures(self, model_settings):
        return (2 * model_settings["stack"]["neighbours"] + 1) * picture_channels(model_settings)

    def drawn(self, layout):
        """The slices holding lesion (the context slices are neighbours only)."""
        return np.flatnonzero(np.asarray(layout["lesion_area"]) > 0)


FAMILY = Stack()
