"""ImageNet weights for machines without internet (a cluster's compute nodes, a hospital's
workstation): checked before any job, and written to a file where the hub is reachable.

`model.weights: imagenet` has timm fetch `{arch}.{pretrained_tag}` from the Hugging Face hub
when a training starts. Where the hub cannot be reached and the weights are not in the local
cache, that fails in every training job after all preprocessing has run; `check_available`
says so when the workflow is parsed. `egfrmet weights` writes the weights once to a
safetensors file (from the hub, or from a torchvision checkpoint such as
resnet50-0676ba61.pth), which `model.weights: /path/to/file` then reads anywhere.
"""

import logging
import os
import urllib.parse

from egfrmet.arguments import command, optional, required
from egfrmet.errors import InputError
from egfrmet.io.files import atomic_output

log = logging.getLogger(__name__)

HUB_FILES = ("model.safetensors", "pytorch_model.bin")  # what timm fetches from a hub repo


def model_name(arch, tag):
    return f"{arch}.{tag}" if tag else arch


def cached(name, cache_dir=None):
    """Whether timm would find `name`'s pretrained weights without the network: where timm
    looks first, the Hugging Face cache (`cache_dir`, default the user's), or for weights
    with a URL only, torch hub's cache."""
    import timm
    from huggingface_hub import try_to_load_from_cache
    from torch.hub import get_dir

    config = timm.models.get_pretrained_cfg(name)
    if config is None:
        raise InputError(f"model.arch/pretrained_tag: timm has no pretrained weights named {name!r}")
    if config.hf_hub_id:
        return any(isinstance(try_to_load_from_cache(config.hf_hub_id, f, cache_dir=cache_dir), str) for f in HUB_FILES)
    if config.url:
        file = os.path.basename(urllib.parse.urlparse(config.url).path)
        return os.path.isfile(os.path.join(get_dir(), "checkpoints", file))
    return False


def hub_switched_off():
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def hub_reachable(timeout=5.0):
    """Whether the Hugging Face hub answers within `timeout` seconds."""
    import urllib.request

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    try:
        urllib.request.urlopen(urllib.request.Request(endpoint, method="HEAD"), timeout=timeout)  # noqa: S310
    except OSError:
        return False
    return True


def check_available(model_settings, *, reachable=hub_reachable, cache_dir=None, section="model"):
    """Refuse `model.weights: imagenet` (or the config `section`'s) where the weights are not
    cached and the hub is off or out of reach: before any job, instead of in every training
    after all preprocessing."""
    if model_settings["weights"] != "imagenet":
        return
    name = model_name(model_settings["arch"], model_settings["pretrained_tag"])
    if cached(name, cache_dir):
        return
    why = "the hub is switched off (HF_HUB_OFFLINE)" if hub_switched_off() else None
    if why is None and not reachable():
        why = "the Hugging Face hub does not answer from this machine"
    if why:
        raise InputError(
            f"{section}.weights imagenet: the ImageNet weights {name!r} are not in this machine's cache and {why}. "
            + offline_advice(model_settings["arch"], model_settings["pretrained_tag"], section)
        )


def offline_advice(arch, tag, section="model"):
    """How to give a machine without the hub the weights: the one recipe every message gives."""
    name, shown_tag = model_name(arch, tag), tag or '""'
    return (
        f"On a machine that reaches the hub, run\n  egfrmet weights --arch {arch} --tag {shown_tag} "
        f"--out {name}.safetensors\n(or with --torchvision-checkpoint FILE, from a torchvision .pth), copy the "
        f"file here and set `{section}.weights: /path/to/{name}.safetensors`"
        + ("; or `model.weights: none` to train from scratch" if section == "model" else "")
        + " (docs/running.md, 'Weights on a machine without internet')."
    )


def state_dict(arch, tag, torchvision_checkpoint=""):
    """The ImageNet state dict of timm's `arch`: from the hub, or a torchvision checkpoint
    (loaded weights-only) whose keys timm's model of the same arch has, checked by loading it."""
    import timm
    import torch

    if not torchvision_checkpoint:
        return timm.create_model(model_name(arch, tag), pretrained=True).state_dict()
    state = torch.load(torchvision_checkpoint, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    model = timm.create_model(arch, pretrained=False)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise InputError(f"not a checkpoint of timm's {arch}: {error}", path=torchvision_checkpoint) from None
    return model.state_dict()


@command(
    "write ImageNet weights to a safetensors file, for model.weights on a machine without internet",
    required("--arch", "timm architecture (model.arch), e.g. resnet50"),
    optional("--tag", "timm's pretrained tag (model.pretrained_tag), e.g. tv_in1k", default="tv_in1k"),
    optional("--torchvision-checkpoint", "a torchvision .pth of the same architecture, instead of the hub"),
    required("--out", "weights to write (.safetensors)"),
)
def run(*, arch, tag, torchvision_checkpoint, out):
    """The `egfrmet weights` subcommand."""
    from safetensors.torch import save_file

    state = state_dict(arch, tag, torchvision_checkpoint)
    with atomic_output(out) as tmp:
        save_file({key: value.contiguous() for key, value in state.items()}, str(tmp))
    log.info("%s: %d tensors written to %s (set model.weights: %s)", arch, len(state), out, out)
