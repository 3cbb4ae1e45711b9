"""What one training reads and how it draws from it: every instance of a set of patients as
one sample (a crop slice for the paper's family: egfrmet.training.networks), epochs of
class-weighted batches, and the paper's augmentation and mixup."""

import math

import torch
import torch.nn.functional as F

from egfrmet.io.files import crop_layout, read_crops
from egfrmet.training.model import takes_lesion_mask
from egfrmet.training.networks import family


def read_instances(crops, patient, model_settings):
    """A patient's instances as its network family defines them, and the crop slice each is
    drawn on, from its file in `crops` ({patient_id: path}, files.crop_files)."""
    channels, layout = read_crops(crops, patient, takes_lesion_mask(model_settings)), crop_layout(crops[patient])
    network = family(model_settings)
    return network.instances(channels, layout, model_settings), network.positions(layout)


def load_instances(crops, table, model_settings):
    """Every instance of the patients in `table` as one sample: x (N, ...), y (N,), and each
    instance's patient and crop slice (the one it is drawn on). `crops`: {patient_id: path}
    (files.crop_files); `model_settings`: settings.model_settings (its family, channels)."""
    instances, labels, patients, positions = [], [], [], []
    for row in table.itertuples():
        own, at = read_instances(crops, row.patient_id, model_settings)
        instances.append(own)
        labels += [int(row.label)] * len(own)
        patients += [row.patient_id] * len(own)
        positions += [int(k) for k in at]
    x = torch.from_numpy(family(model_settings).join(instances))
    return x, torch.tensor(labels), patients, positions


def epoch_batches(labels, batch_size, generator):
    """One epoch of indices drawn with replacement, classes weighted 1/count, in batches.

    The epoch has as many samples as the training set; the last partial batch is dropped (a
    batch of one would break BatchNorm) unless it is the only one.
    """
    counts = torch.bincount(labels, minlength=2).clamp(min=1)
    weights = (1.0 / counts.double())[labels]
    sampler = torch.utils.data.WeightedRandomSampler(weights, len(labels), replacement=True, generator=generator)
    order = torch.tensor(list(sampler))
    n_batches = max(1, len(order) // batch_size)
    return [order[i * batch_size : (i + 1) * batch_size] for i in range(n_batches)]


def augment(x, generator, *, p, rotate_deg, zoom_max, contrast, images=None):
    """Random rotation, zoom and contrast per image, each applied with probability `p`.
    Contrast changes the first `images` channels only (None: all), so that a lesion-mask
    channel after them moves with the image but stays a mask. Bags (5 axes): each slice
    drawn for on its own."""
    if x.dim() == 5:
        bags = x.shape[:2]
        flat = augment(
            x.flatten(0, 1), generator, p=p, rotate_deg=rotate_deg, zoom_max=zoom_max, contrast=contrast, images=images
        )
        return flat.view(*bags, *flat.shape[1:])
    n = x.shape[0]

    def draw(low, high):
        values = low + (high - low) * torch.rand(n, generator=generator)
        return torch.where(torch.rand(n, generator=generator) < p, values, torch.zeros_like(values)).to(x.device)

    angle = draw(-rotate_deg, rotate_deg) * math.pi / 180
    zoom = 1 + draw(0.0, zoom_max - 1)
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    zeros = torch.zeros_like(cos)
    theta = torch.stack([torch.stack([cos, -sin, zeros], 1), torch.stack([sin, cos, zeros], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    # contrast: log-uniform factor in [1 - contrast, 1 / (1 - contrast)] around each channel's
    # mean (one factor per image: every sequence of a slice changes alike)
    log_factor = draw(math.log(1 - contrast), -math.log(1 - contrast))
    images = x.shape[1] if images is None else images
    picture = x[:, :images]
    mean = picture.mean(dim=(2, 3), keepdim=True)
    picture = mean + (picture - mean) * torch.exp(log_factor).view(-1, 1, 1, 1)
    return torch.cat([picture, x[:, images:]], 1) if images < x.shape[1] else picture


def mixup(x, targets, generator, alpha):
    """Mix each sample with a random partner: x and targets with the same lambda >= 0.5."""
    # Beta takes no generator: lambda comes from the global RNG, which train_fold seeds
    lam = torch.distributions.Beta(alpha, alpha).sample((x.shape[0],)) if alpha > 0 else torch.ones(x.shape[0])
    lam = torch.maximum(lam, 1 - lam).to(x.device)
    partner = torch.randperm(x.shape[0], generator=generator).to(x.device)
    mixed_x = lam.view(-1, 1, 1, 1) * x + (1 - lam.view(-1, 1, 1, 1)) * x[partner]
    mixed_targets = lam.view(-1, 1) * targets + (1 - lam.view(-1, 1)) * targets[partner]
    return mixed_x, mixed_targets, lam
