"""What a training holds and how it steps: the model, AdamW and fastai's one-cycle schedule,
for the frozen (or only) epochs and, with train.fine_tune, the fine-tuning ones after them."""

from dataclasses import dataclass

import torch

from egfrmet.config.settings import body_frozen
from egfrmet.training.model import freeze_body, parameter_groups
from egfrmet.training.networks import build


@dataclass
class TrainingState:
    """What travels together through a training: the model, AdamW, the one-cycle schedule
    and the sampler's generator. Its state dict adds the global RNGs (mixup's lambda, dropout),
    so that a run resumed from it continues as if never stopped."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    generator: torch.Generator

    def state_dict(self):
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "generator": self.generator.get_state(),
            "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        }

    def load_state_dict(self, state):
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["rng"])
        if state["cuda_rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])


def build_training(model_settings, settings, steps_per_epoch, device):
    """Model, AdamW, the one-cycle schedule (fastai's semantics) and a seeded generator."""
    model = build(model_settings).to(device)
    if settings["channels_last"]:
        model = model.to(memory_format=torch.channels_last)
    if body_frozen(model_settings, settings):
        freeze_body(model)
    optimizer = adamw(parameter_groups(model, settings["weight_decay"]), settings)
    schedule = {"lr": settings["lr"], "pct_start": settings["pct_start"], "div": settings["div"]}
    scheduler = one_cycle(optimizer, schedule, settings, settings["epochs"] * steps_per_epoch)
    return TrainingState(model, optimizer, scheduler, torch.Generator().manual_seed(settings["seed"]))


def fine_tune_training(state, settings, steps_per_epoch):
    """After the frozen epochs, fastai's fine_tune: the whole body trainable at lr / lr_mult
    (the head at lr), a new one-cycle schedule over train.fine_tune.epochs. Same model and
    generator; a new AdamW, as fastai's unfreeze makes."""
    tune, decay = settings["fine_tune"], settings["weight_decay"]
    body, head = state.model[0], state.model[1]
    for parameter in body.parameters():
        parameter.requires_grad_(True)
    groups = [group | {"lr": tune["lr"] / tune["lr_mult"]} for group in parameter_groups(body, decay)]
    groups += [group | {"lr": tune["lr"]} for group in parameter_groups(head, decay)]
    optimizer = adamw(groups, settings)
    schedule = {"lr": [group["lr"] for group in groups], "pct_start": tune["pct_start"], "div": tune["div"]}
    scheduler = one_cycle(optimizer, schedule, settings, tune["epochs"] * steps_per_epoch)
    return TrainingState(state.model, optimizer, scheduler, state.generator)


def adamw(groups, settings):
    return torch.optim.AdamW(
        groups,
        lr=settings["lr"],
        betas=(settings["moms"][0], settings["beta2"]),  # beta1: where the moms cycle starts
        eps=settings["eps"],
    )


def one_cycle(optimizer, schedule, settings, total_steps):
    """fastai's fit_one_cycle: from lr / div up to lr (per group when a list), down to lr / div_final."""
    pct_start = schedule["pct_start"]
    if pct_start * total_steps == 1:  # PyTorch's warm-up would end at step 0 and divide by zero
        pct_start *= 0.999
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=schedule["lr"],
        total_steps=total_steps,
        pct_start=pct_start,
        div_factor=schedule["div"],
        final_div_factor=settings["div_final"] / schedule["div"],  # fastai's div_final is relative to lr
        base_momentum=settings["moms"][1],
        max_momentum=settings["moms"][0],
    )


def total_epochs(settings):
    """The frozen (or only) epochs, then any fine-tuning ones: the history's length."""
    return settings["epochs"] + settings.get("fine_tune", {}).get("epochs", 0)
