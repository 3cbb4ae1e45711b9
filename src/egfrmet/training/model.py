"""The network: a timm backbone with fastai's head, frozen or not, loaded from a state dict,
and its slice probabilities. Training (egfrmet.training.train) and prediction
(egfrmet.inference.predict) both depend on this module, not on each other; where it runs
is egfrmet.training.runtime's."""

import os

import torch
import torch.nn.functional as F
from torch import nn

from egfrmet.errors import InputError
from egfrmet.training.runtime import to_device
from egfrmet.training.weights import model_name, offline_advice


def takes_lesion_mask(model_settings):
    """Whether the network's last input channel is the lesion mask (model.lesion_channel): the
    one reading of the key for every stage that feeds a network its crops."""
    return model_settings.get("lesion_channel", False)


class ConcatPool(nn.Module):
    """fastai's AdaptiveConcatPool2d: max and average pooling side by side."""

    def forward(self, x):
        return torch.cat([F.adaptive_max_pool2d(x, 1), F.adaptive_avg_pool2d(x, 1)], 1).flatten(1)


def fastai_head(n_features, hidden, dropout, n_classes=2):
    """fastai's create_head: pool, BN, dropout, linear, ReLU, BN, dropout, linear."""
    head = nn.Sequential(
        ConcatPool(),
        nn.BatchNorm1d(2 * n_features),
        nn.Dropout(dropout[0]),
        nn.Linear(2 * n_features, hidden, bias=False),
        nn.ReLU(inplace=True),
        nn.BatchNorm1d(hidden),
        nn.Dropout(dropout[1]),
        nn.Linear(hidden, n_classes, bias=False),
    )
    for layer in head:
        if isinstance(layer, nn.Linear):
            nn.init.kaiming_normal_(layer.weight)
    return head


class ImagenetInput(nn.Module):
    """The input fastai gave the paper's pretrained network: each channel as a grey picture
    ([0, 1] by the crop's own minimum and maximum, as a PNG export would). One channel (the
    T1c alone) becomes three equal ones, each normalised with ImageNet's mean and SD of its
    colour; with C > 1 sequences, each stays one channel, normalised with ImageNet's mean and
    SD over colours, for a body whose pretrained conv1 timm adapts to C channels."""

    def __init__(self, channels=1, passthrough=0):
        super().__init__()
        self.passthrough = passthrough  # last channels that are flags (0 or 1), not pictures
        mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
        if channels > 1:
            mean, std = mean.mean().repeat(channels), std.mean().repeat(channels)
        self.channels = channels
        self.register_buffer("mean", mean.view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", std.view(1, -1, 1, 1), persistent=False)

    def forward(self, x):
        if self.passthrough:
            flags = x[:, -self.passthrough :]
            pictures = x.clone()
            pictures[:, -self.passthrough :] = 0
            return torch.cat([self.pictures(pictures)[:, : -self.passthrough], flags], 1)
        return self.pictures(x)

    def pictures(self, x):
        low = x.amin(dim=(2, 3), keepdim=True)
        high = x.amax(dim=(2, 3), keepdim=True)
        grey = (x - low) / (high - low).clamp_min(1e-6)
        if self.channels == 1:
            grey = grey.expand(-1, 3, -1, -1)
        return (grey - self.mean) / self.std


def create_body(arch, weights, pretrained_tag, in_chans=1):
    """The timm backbone without its classifier, taking `in_chans` input channels. A
    pretrained conv1 is adapted by timm (adapt_input_conv): for 1 channel its RGB filters
    are summed; for C other than 3, the RGB filters are repeated over the C channels and
    scaled by 3 / C, so that a pretrained filter's response to equal inputs is unchanged.

    `weights`: "imagenet" (timm's pretrained tag from the hub), "none", or a path to a state
    dict (its ImageNet classifier, if any, is dropped). Files load through timm's own
    mechanism, which uses torch.load(weights_only=True) or safetensors.
    """
    import timm

    options = {"num_classes": 0, "global_pool": "", "in_chans": in_chans}
    if weights == "none":
        return timm.create_model(arch, pretrained=False, **options)
    if weights == "imagenet":
        name = model_name(arch, pretrained_tag)
        try:
            return timm.create_model(name, pretrained=True, **options)
        except Exception as error:  # the hub client raises many types for "unreachable"
            raise InputError(
                f"model.weights imagenet: could not load ImageNet weights {name!r} from the Hugging Face hub "
                f"({type(error).__name__}: {error}). " + offline_advice(arch, pretrained_tag)
            ) from None
    if not os.path.isfile(weights):
        raise InputError(f"model.weights: no such file {weights!r} (use imagenet, none or a state-dict path)")
    return timm.create_model(arch, pretrained=True, pretrained_cfg_overlay={"file": weights}, **options)


def input_mode(model_settings):
    """model.input, with auto resolved: imagenet for a pretrained body, else zscore."""
    mode = model_settings.get("input", "zscore")
    if mode == "auto":
        return "zscore" if model_settings["weights"] == "none" else "imagenet"
    return mode


def input_body(*, arch, weights, pretrained_tag, input="zscore", channels=1, presence_channels=0):
    """The timm body behind its input: as it is (zscore), or behind ImagenetInput (imagenet,
    as fastai fed the paper's pictures; auto: imagenet when the body is pretrained). Every
    network family's body, and the deep features'."""
    input = input_mode({"input": input, "weights": weights})
    in_chans = 3 if input == "imagenet" and channels == 1 else channels
    body = create_body(arch, weights, pretrained_tag, in_chans=in_chans)
    if input == "imagenet":
        body = nn.Sequential(ImagenetInput(channels, passthrough=presence_channels), body)
    return body


def body_features(body):
    """The width of an input_body's last feature map."""
    return (body[-1] if isinstance(body, nn.Sequential) else body).num_features


# create_model's options that are not input_body's: the head's, and the lesion channel
# (counted in `channels` already: the data readers add it, not the model)
HEAD_OPTIONS = ("head_hidden", "dropout", "lesion_channel")


def body_options(options):
    """input_body's part of create_model's options (settings.model_settings less the family)."""
    return {key: value for key, value in options.items() if key not in HEAD_OPTIONS}


def create_model(*, head_hidden, dropout, lesion_channel=False, **body):
    """Body (input_body: arch, weights, pretrained_tag, input, channels, presence_channels) and
    fastai's head. `channels`: the T1c, further sequences and, with `lesion_channel`, the
    lesion mask, then with `presence_channels` one 0-or-1 channel per further sequence saying
    whether the patient has it (settings.model_settings; the data readers add them, not the
    model; ImagenetInput passes the flags as they are)."""
    body = input_body(**body)
    return nn.Sequential(body, fastai_head(body_features(body), head_hidden, dropout))


def freeze_body(model):
    """fastai's freeze(): train the head and the body's BatchNorm layers only."""
    body = model[0]
    for module in body.modules():
        trainable = isinstance(module, nn.modules.batchnorm._BatchNorm)
        for parameter in module.parameters(recurse=False):
            parameter.requires_grad_(trainable)


def parameter_groups(model, weight_decay):
    """fastai's default: no weight decay on BatchNorm and bias parameters."""
    decay, no_decay = [], []
    for module in model.modules():
        for name, parameter in module.named_parameters(recurse=False):
            if not parameter.requires_grad:
                continue
            is_norm = isinstance(module, (nn.modules.batchnorm._BatchNorm, nn.LayerNorm))
            (no_decay if is_norm or name == "bias" else decay).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


@torch.no_grad()
def predict_probabilities(model, x, device, *, batch_size, bf16, channels_last):
    """Positive-class probability per instance of `x` (a slice, or a bag: its family's; eval
    mode, no augmentation). With
    `channels_last` the weights take that layout too, as in training, so that a loaded model
    computes with the same kernels as the training's validation did."""
    model.eval()
    if channels_last:
        model.to(memory_format=torch.channels_last)
    out = []
    for start in range(0, len(x), batch_size):
        batch = to_device(x[start : start + batch_size], device, channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out.append(torch.softmax(model(batch).float(), 1)[:, 1].cpu())
    return torch.cat(out)
