"""What one training reads and how it draws from it: every crop slice of a set of patients
as one sample, epochs of class-weighted batches, and the paper's augmentation and mixup."""

import math

import numpy as np
import torch
import torch.nn.functional as F

from egfrmet.io.files import read_crops


def load_slices(crops, table, lesion_channel=False):
    """Every crop slice of the patients in `table` as one sample: x (N, channels, H, W), y (N,).
    `crops`: {patient_id: path} (files.crop_files); `lesion_channel`: the lesion mask as the
    last channel (files.read_crops)."""
    images, labels, patients, positions = [], [], [], []
    for row in table.itertuples():
        slices = read_crops(crops, row.patient_id, lesion_channel)
        images.append(slices)
        labels += [int(row.label)] * len(slices)
        patients += [row.patient_id] * len(slices)
        positions += list(range(len(slices)))
    x = torch.from_numpy(np.concatenate(images))
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
    channel after them moves with the image but stays a mask."""
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
