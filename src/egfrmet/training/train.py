"""Training of one cross-validation fold: the paper's fastai recipe as a plain PyTorch loop.

Read `train_fold` top to bottom: data, model, optimiser and schedule (egfrmet.training.state),
then the epoch loop (weighted sampling, augmentation, mixup, soft-F1 loss), validation and
model selection.
The fastai semantics the paper's learning rate relies on (docs/method.md): a pretrained body frozen
except BatchNorm, a fastai head, AdamW with one-cycle to 4e-2 from lr/25 down to lr/1e5.
"""

import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from egfrmet.arguments import CROPS, MODEL_SETTINGS, SETTINGS, THREADS, command, optional, required
from egfrmet.cohort.folds import inner_folds, of_repeat, read_folds, repeat_number
from egfrmet.errors import InputError
from egfrmet.io.files import atomic_output, crop_files
from egfrmet.metrics import auc
from egfrmet.training.checkpoints import remove_checkpoint, resume, save, save_checkpoint, training_fingerprint
from egfrmet.training.data import augment, epoch_batches, load_instances, mixup
from egfrmet.training.model import predict_probabilities
from egfrmet.training.networks import family
from egfrmet.training.runtime import device_name, inference, pick_device, set_up, to_device, use_bf16
from egfrmet.training.selection import INNER_BEST, OUTER, keeps, outer_model_selection
from egfrmet.training.state import build_training, fine_tune_training, total_epochs

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- loss


def soft_f1_loss(logits, targets, average="binary", eps=1e-7):
    """1 - F1 computed over the batch from softmax probabilities and (soft) targets.

    `binary`: F1 of the positive class (EGFR-mutant); `macro`: mean of both classes' F1.
    """
    probs = torch.softmax(logits.float(), dim=1)
    tp = (probs * targets).sum(0)
    fp = (probs * (1 - targets)).sum(0)
    fn = ((1 - probs) * targets).sum(0)
    f1 = 2 * tp / (2 * tp + fp + fn + eps)
    return 1 - (f1[1] if average == "binary" else f1.mean())


# ---------------------------------------------------------------------------- evaluation


def validation_metrics(probs, labels, average):
    from sklearn.metrics import f1_score

    targets = F.one_hot(labels, 2).float()
    logits = torch.log(torch.stack([1 - probs, probs], 1).clamp(min=1e-7))
    predicted = (probs >= 0.5).long()
    both = len(set(labels.tolist())) == 2
    return {
        "val_loss": float(soft_f1_loss(logits, targets, average)),
        "val_acc": float((predicted == labels).float().mean()),
        "val_f1": float(f1_score(labels.numpy(), predicted.numpy(), zero_division=0)),
        "val_auc": auc(labels.numpy(), probs.numpy()) if both else float("nan"),
    }


# ------------------------------------------------------------------------------ training


def set_deterministic(on):
    """`train.deterministic`: deterministic kernels where PyTorch has them. CPU training repeats
    bit for bit without it; on CUDA it removes most run-to-run noise (cuDNN's algorithm
    choice, atomics in backward passes), and the log names each op that has no deterministic
    CUDA kernel (warn_only) instead of failing."""
    if on:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # read at cuBLAS's first call
    torch.use_deterministic_algorithms(on, warn_only=True)
    torch.backends.cudnn.benchmark = False


def train_epoch(state, x_train, y_train, settings, device, bf16, progress=None, *, images=None, batch_size, mixes=True):
    """One epoch of `state` (a TrainingState): weighted sampling, augmentation, mixup (unless
    not `mixes`: the family's), soft-F1 loss, AdamW step. Losses. `images`: how many channels
    are pictures (data.augment); `batch_size`: instances per batch (the family's)."""
    model, optimizer, scheduler, generator = state.model, state.optimizer, state.scheduler, state.generator
    model.train()
    labels = y_train.to(device)
    batches = epoch_batches(y_train, batch_size, generator)
    losses = []
    for batch in batches:
        batch = batch.to(device)
        x = augment(x_train[batch], generator, **settings["augment"], images=images)
        targets = F.one_hot(labels[batch], 2).float()
        if mixes:
            x, targets, _ = mixup(x, targets, generator, settings["mixup_alpha"])
        x = to_device(x, device, settings["channels_last"])
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(x)
        loss = soft_f1_loss(logits, targets, settings["f1_average"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        if progress:
            progress(len(losses), len(batches))
    return losses


def copy_state(model):
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def train_fold(
    x_train,
    y_train,
    x_val,
    y_val,
    *,
    model_settings,
    settings,
    device,
    selections=("last",),
    chosen_epoch=None,
    progress=None,
    checkpoint=None,
    every_s=0,
):
    """Train one fold. Returns the per-epoch history and, for each of `selections`
    (egfrmet.training.selection), the model it kept: {"epoch", "row", "state", "probs"} with the
    validation probabilities of that model. `chosen_epoch`: the inner folds' choice, for
    `inner_cv`.

    With `checkpoint` (a path), the state at the end of an epoch is kept there whenever
    `every_s` seconds have passed since the last one (0: every epoch); a run that finds a
    checkpoint made from the same data and settings resumes after its epoch. The files go
    when the fold is done.
    """
    torch.manual_seed(settings["seed"])
    run_options = inference(settings, device)  # validation computes as prediction will
    bf16 = run_options["bf16"]
    network = family(model_settings)
    batch_size = network.batch_size(settings, model_settings)
    steps_per_epoch = max(1, len(y_train) // batch_size)
    x_train = x_train.to(device)
    fingerprint = training_fingerprint(x_train, y_train, x_val, y_val, model_settings, settings, chosen_epoch)

    def training_at(done):  # the state a training holds after `done` epochs, to resume into
        state = build_training(model_settings, settings, steps_per_epoch, device)
        return fine_tune_training(state, settings, steps_per_epoch) if done > settings["epochs"] else state

    history, kept, state = resume(checkpoint, fingerprint, training_at) if checkpoint else ([], {}, training_at(0))
    model = state.model
    saved = time.monotonic()
    images = network.pictures(model_settings)

    for epoch in range(len(history), total_epochs(settings)):
        if epoch == settings["epochs"]:
            state = fine_tune_training(state, settings, steps_per_epoch)
        start = time.perf_counter()
        bar = progress(epoch) if progress else None
        losses = train_epoch(
            state,
            x_train,
            y_train,
            settings,
            device,
            bf16,
            bar,
            images=images,
            batch_size=batch_size,
            mixes=network.mixes,
        )
        row = {"epoch": epoch, "lr": state.scheduler.get_last_lr()[0], "train_loss": float(np.mean(losses))}
        probs = torch.empty(0)
        if len(y_val):  # a final model has no validation patients
            probs = predict_probabilities(model, x_val, device, batch_size=2 * batch_size, **run_options)
            row |= validation_metrics(probs, y_val, settings["f1_average"])
        row["seconds"] = time.perf_counter() - start
        history.append(row)
        log.info(format_epoch(row))

        metric = settings["inner"]["metric"]
        changed = [name for name in selections if keeps(name, row, kept.get(name), chosen_epoch, metric)]
        if changed:
            weights = copy_state(model)  # one copy, shared by the selections that keep it
        for name in changed:
            kept[name] = {"epoch": epoch, "row": row, "state": weights, "probs": probs}
        last = epoch + 1 == total_epochs(settings)
        if checkpoint and not last and time.monotonic() - saved >= every_s:
            save_checkpoint(checkpoint, fingerprint, state, history, kept, changed)
            saved = time.monotonic()

    if checkpoint:
        remove_checkpoint(checkpoint, selections)
    return pd.DataFrame(history), kept


def format_epoch(row):
    text = f"epoch {row['epoch']:3d}  lr {row['lr']:.2e}  train_loss {row['train_loss']:.4f}  "
    if "val_loss" in row:
        text += f"val_loss {row['val_loss']:.4f}  val_acc {row['val_acc']:.3f}  val_f1 {row['val_f1']:.3f}  "
        text += f"val_auc {row['val_auc']:.3f}  "
    return text + f"{row['seconds']:.1f}s"


def terminal_progress(epochs):
    """Per epoch, a one-line progress bar on a terminal; nothing when writing to a log file."""
    if not sys.stderr.isatty():
        return None

    def for_epoch(epoch):
        def show(step, steps):
            sys.stderr.write(f"\repoch {epoch + 1}/{epochs}  step {step}/{steps}")
            sys.stderr.flush()

        return show

    return for_epoch


def prepare(name, model_settings, settings, threads):
    """Threads, determinism, device and precision of a training, logged. (device, precision)"""
    set_up(threads, hub=model_settings["weights"] == "imagenet")
    set_deterministic(settings["deterministic"])
    device = pick_device(settings["device"])
    precision = "bf16" if use_bf16(settings, device) else "fp32"
    log.info(
        "%s on %s (CUDA_VISIBLE_DEVICES=%s, %d threads, %s)",
        name,
        device_name(device),
        os.environ.get("CUDA_VISIBLE_DEVICES", "unset"),
        threads,
        "bf16 autocast" if precision == "bf16" else "float32",
    )
    return device, precision


@command(
    "train one cross-validation fold (or one inner fold of its training patients)",
    required("--fold", "fold to hold out for validation", type=int),
    (
        ["--inner"],
        {"type": int, "default": -1, "help": "an inner fold of the fold's training patients (default: the fold)"},
    ),
    required("--folds", "folds table (.tsv)"),
    CROPS,
    optional("--choice", "the inner folds' choice (.json), for the inner_cv selection"),
    MODEL_SETTINGS,
    SETTINGS,
    THREADS,
    optional("--checkpoint", "where to keep the state between epochs, to resume a killed run"),
    (
        ["--checkpoint-seconds"],
        {"type": float, "default": 0, "help": "least seconds between checkpoints (default 0: every epoch)"},
    ),
    required("--out-model", "state dict to write (.pt)"),
    required("--out-history", "per-epoch log to write (.csv)"),
    optional("--out-val", "validation slice probabilities to write (.csv; outer folds)"),
)
def run(
    *,
    fold,
    inner,
    folds,
    crops,
    choice,
    model_settings,
    settings,
    threads,
    checkpoint,
    checkpoint_seconds,
    out_model,
    out_history,
    out_val,
):
    """The `egfrmet train` subcommand: outer fold `fold` of `folds` (.tsv), crops from the
    files `crops` (none but these is read); or with `inner` >= 0, that inner fold of the fold's training patients (its
    history is all the inner choice needs)."""
    name = f"fold {fold}" + (f", inner fold {inner}" if inner >= 0 else "")
    device, precision = prepare(name, model_settings, settings, threads)
    table = of_repeat(read_folds(folds), fold)
    repeat = repeat_number(table)
    if inner >= 0:
        table = inner_folds(table, outer_fold=fold, k=settings["inner"]["k"], seed=settings["seed"])
    held_out = inner if inner >= 0 else fold
    train_table, val_table = table[table.fold != held_out], table[table.fold == held_out]
    crops = crop_files(crops)
    x_train, y_train, _, _ = load_instances(crops, train_table, model_settings)
    x_val, y_val, val_patients, val_positions = load_instances(crops, val_table, model_settings)
    log.info(
        "%s: %d training instances (%d positive), %d validation instances (network family %s)",
        name,
        len(y_train),
        int(y_train.sum()),
        len(y_val),
        family(model_settings).name,
    )

    # an inner training keeps its own best epoch (for inner_ensemble) and its last (whose
    # scores of its validation patients feed egfrmet.baselines.fusion); an outer one, every selection
    # made from the outer run
    selections = [INNER_BEST, "last"] if inner >= 0 else [name for name in settings["select"] if name in OUTER]
    chosen = json.loads(Path(choice).read_text(encoding="utf-8"))["epoch"] if choice else None
    epochs = total_epochs(settings)
    if "inner_cv" in selections and not (chosen is not None and 0 <= chosen < epochs):
        raise InputError(f"train.select has inner_cv: --choice must give an epoch in 0..{epochs - 1}")
    history, kept = train_fold(
        x_train,
        y_train,
        x_val,
        y_val,
        model_settings=model_settings,
        settings=settings,
        device=device,
        selections=selections,
        chosen_epoch=chosen,
        progress=terminal_progress(epochs),
        checkpoint=checkpoint or None,
        every_s=checkpoint_seconds,
    )
    history = annotate(history, kept, precision, device, name)
    where = {"fold": fold, "repeat": repeat} | ({"inner": inner} if inner >= 0 else {})
    write_outputs(history, kept, settings, out_model, out_history, out_val, val_patients, val_positions, y_val, where)


def annotate(history, kept, precision, device, name):
    """history.csv's columns beyond the epochs: precision and device (figures repeat bit for
    bit only where both are the same) and `kept_<selection>` marking each kept epoch."""
    history = history.assign(precision=precision, device=device_name(device))
    for selection, entry in kept.items():
        history[f"kept_{selection}"] = history.epoch == entry["epoch"]
        log.info("%s: %s kept epoch %d", name, selection, entry["epoch"])
    return history


def write_outputs(history, kept, settings, out_model, out_history, out_val, patients, positions, labels, where):
    """history.csv and model.pt: for an inner fold the model of its best epoch; for an outer
    fold the model of egfrmet.training.selection.outer_model_selection; and val_slices.csv (each
    selection's validation probabilities, a `selection` column apart) unless `out_val` is
    empty (a final model, which validates on no one)."""
    inner = INNER_BEST in kept
    chosen = INNER_BEST if inner else outer_model_selection(settings["select"], settings["predict_with"])
    history["selected"] = history[f"kept_{chosen}"]
    with atomic_output(out_history) as tmp:
        history.to_csv(tmp, index=False)
    save(kept[chosen]["state"], out_model)
    if not out_val:
        return
    slices = pd.concat(
        pd.DataFrame(
            {
                "selection": selection,
                "patient_id": patients,
                "slice": positions,
                "probability": entry["probs"].numpy(),
                "label": labels.numpy(),
            }
            | where
        )
        for selection, entry in kept.items()
    )
    with atomic_output(out_val) as tmp:
        slices.to_csv(tmp, index=False)
