"""Where and how a network runs, one decision for training, validation and prediction: CPU
threads and the offline hub, the device, bf16 autocast (from the CPU's flags where
`precision: auto`) and the memory format."""

import functools
import os

import torch

from egfrmet import cards


def set_up(threads, hub=False):
    """What every stage that runs a network does first: `threads` CPU threads, and the Hugging
    Face hub switched off unless `hub` (model.weights: imagenet), so that weights from files
    never touch the network."""
    if not hub:
        os.environ["HF_HUB_OFFLINE"] = "1"
    torch.set_num_threads(threads)


def pick_device(name):
    """cpu, or on `cuda` a card of its own (egfrmet.cards); `cuda:N` as named."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name != "cuda":
        return torch.device(name)
    return cards.cuda_device()


def to_device(x, device, channels_last):
    """`x` on `device`; a batch of 2-D instances (4 axes) in the channels-last layout when
    asked (a batch of bags takes it inside its network)."""
    x = x.to(device, non_blocking=True)
    return x.contiguous(memory_format=torch.channels_last) if channels_last and x.dim() == 4 else x


def use_bf16(settings, device):
    """bf16 autocast? `auto`: on CUDA, and on CPUs with AMX-BF16 units (1.7x faster there)."""
    if settings["precision"] == "auto":
        return device.type == "cuda" or (device.type == "cpu" and cpu_has_amx_bf16())
    return settings["precision"] == "bf16"


def device_name(device):
    """The GPU's name, or the CPU's model name (from /proc/cpuinfo where there is one)."""
    if device.type == "cuda":
        return f"{device} {torch.cuda.get_device_name(device)}"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            names = [line.split(":", 1)[1].strip() for line in info if line.startswith("model name")]
    except OSError:
        names = []
    return names[0] if names else "cpu"


@functools.cache
def cpu_has_amx_bf16():
    try:
        with open("/proc/cpuinfo") as info:
            return any(line.startswith("flags") and " amx_bf16" in line for line in info)
    except OSError:
        return False


def inference(settings, device):
    """bf16 autocast and channels-last for a device, from the `train` config section: one
    decision, so that validation and prediction compute alike."""
    return {"bf16": use_bf16(settings, device), "channels_last": settings["channels_last"]}
