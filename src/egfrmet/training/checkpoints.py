"""Checkpoints of a training: what a killed job needs to resume (egfrmet.training.train writes them
between epochs; they go when the fold is done). A checkpoint resumes only a training of the
same data, settings and choice (its fingerprint)."""

import hashlib
import json
import logging
import os

import torch

from egfrmet.io.files import atomic_output

log = logging.getLogger(__name__)


def save(obj, path):
    """torch.save, atomically, through an open file: torch then names the archive's inner
    folder `archive`, not after the temporary file, so equal weights give equal bytes."""
    with atomic_output(path) as tmp, open(tmp, "wb") as handle:
        torch.save(obj, handle)


def training_fingerprint(x_train, y_train, x_val, y_val, model_settings, settings, chosen_epoch=None):
    """What a checkpoint must have been made from to be resumed: data, settings and choice."""
    digest = hashlib.sha256(json.dumps([model_settings, settings, chosen_epoch], sort_keys=True).encode())
    for tensor in (x_train, y_train, x_val, y_val):
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def save_checkpoint(path, fingerprint, state, history, kept, changed):
    """The training state and history: all a resumed run needs. Each kept model's weights
    go to a file of their own, rewritten only when they change."""
    for name, entry in kept.items():
        if name in changed or not os.path.exists(f"{path}.{name}"):
            save(entry["state"], f"{path}.{name}")
    checkpoint = {
        "fingerprint": fingerprint,
        "state": state.state_dict(),
        "history": history,
        "kept": {name: {k: v for k, v in entry.items() if k != "state"} for name, entry in kept.items()},
    }
    save(checkpoint, path)


def resume(path, fingerprint, training_at):
    """(history, kept, state): a checkpoint made from the same data and settings restored
    into `training_at(epochs done)` (the state a training has then: a fine-tuning one has
    other optimiser groups); else afresh, from `training_at(0)`."""
    if not os.path.exists(path):
        return [], {}, training_at(0)
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if checkpoint["fingerprint"] != fingerprint:
        log.info("checkpoint %s is from other data or settings: starting afresh", path)
        return [], {}, training_at(0)
    state = training_at(len(checkpoint["history"]))
    state.load_state_dict(checkpoint["state"])
    kept = {
        name: entry | {"state": torch.load(f"{path}.{name}", map_location="cpu", weights_only=True)}
        for name, entry in checkpoint["kept"].items()
    }
    log.info("resuming from %s after epoch %d", path, len(checkpoint["history"]) - 1)
    return checkpoint["history"], kept, state


def remove_checkpoint(path, selections):
    for name in [path] + [f"{path}.{selection}" for selection in selections]:
        if os.path.exists(name):
            os.remove(name)
