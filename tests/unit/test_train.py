import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from conftest import tiny_model
from egfrmet.errors import InputError
from egfrmet.training import checkpoints, data, train
from egfrmet.training import state as training_state
from egfrmet.training.model import create_model, freeze_body, parameter_groups
from egfrmet.training.networks import load_model


def logits_for(probs):
    """Logits whose softmax gives positive-class probabilities `probs`."""
    p = torch.tensor(probs, dtype=torch.float64)
    return torch.stack([torch.zeros_like(p), torch.log(p / (1 - p))], 1)


def test_soft_f1_loss_on_a_hard_batch_by_hand():
    # p = .9 .2 .6, y = 1 0 1: tp 1.5, fp .2, fn .5 -> F1 = 3 / 3.7
    targets = F.one_hot(torch.tensor([1, 0, 1]), 2).double()
    loss = train.soft_f1_loss(logits_for([0.9, 0.2, 0.6]), targets)
    assert float(loss) == pytest.approx(1 - 3 / 3.7, abs=1e-6)
    # macro: class 0 has tp .8, fp .5, fn .2 -> F1 = 1.6 / 2.3
    macro = train.soft_f1_loss(logits_for([0.9, 0.2, 0.6]), targets, average="macro")
    assert float(macro) == pytest.approx(1 - (3 / 3.7 + 1.6 / 2.3) / 2, abs=1e-6)


def test_soft_f1_loss_on_soft_targets_by_hand():
    # y = .7 .2 1: tp .63+.04+.6 = 1.27, fp .27+.16+0 = .43, fn .07+.16+.4 = .63
    y = torch.tensor([0.7, 0.2, 1.0], dtype=torch.float64)
    loss = train.soft_f1_loss(logits_for([0.9, 0.2, 0.6]), torch.stack([1 - y, y], 1))
    assert float(loss) == pytest.approx(1 - 2.54 / 3.6, abs=1e-6)


def test_a_gradient_step_lowers_the_soft_f1_loss():
    torch.manual_seed(0)
    logits = torch.randn(16, 2, requires_grad=True)
    targets = F.one_hot(torch.randint(0, 2, (16,)), 2).float()
    before = train.soft_f1_loss(logits, targets)
    before.backward()
    with torch.no_grad():
        after = train.soft_f1_loss(logits - 1.0 * logits.grad, targets)
    assert float(after) < float(before.detach())


def test_mixup_mixes_inputs_and_targets_with_the_same_lambda_of_at_least_half():
    torch.manual_seed(0)
    x = torch.arange(8, dtype=torch.float32).view(8, 1, 1, 1).expand(8, 1, 2, 2).clone()
    targets = F.one_hot(torch.tensor([0, 1] * 4), 2).float()
    mixed_x, mixed_targets, lam = data.mixup(x, targets, torch.Generator().manual_seed(1), alpha=0.4)
    assert (lam >= 0.5).all() and (lam <= 1).all() and lam.std() > 0  # one lambda per sample
    for i in range(8):
        # recover the partner from the inputs, then check the targets used the same lambda
        partner = (mixed_x[i, 0, 0, 0] - lam[i] * x[i, 0, 0, 0]) / (1 - lam[i]) if lam[i] < 1 else x[i, 0, 0, 0]
        j = int(round(float(partner)))
        assert torch.allclose(mixed_targets[i], lam[i] * targets[i] + (1 - lam[i]) * targets[j], atol=1e-5)


def test_sampler_balances_the_classes():
    labels = torch.tensor([1] * 20 + [0] * 180)
    generator = torch.Generator().manual_seed(0)
    drawn = torch.cat([torch.cat(data.epoch_batches(labels, 32, generator)) for _ in range(50)])
    share = labels[drawn].float().mean()
    assert abs(float(share) - 0.5) < 0.03
    batches = data.epoch_batches(labels, 32, generator)
    assert len(batches) == 200 // 32 and all(len(b) == 32 for b in batches)


def test_augment_keeps_shape_and_changes_images_and_p0_changes_nothing():
    x = torch.randn(6, 1, 32, 32)
    out = data.augment(x, torch.Generator().manual_seed(0), p=1.0, rotate_deg=10, zoom_max=1.1, contrast=0.2)
    assert out.shape == x.shape and not torch.allclose(out, x)
    same = data.augment(x, torch.Generator().manual_seed(0), p=0.0, rotate_deg=10, zoom_max=1.1, contrast=0.2)
    assert torch.allclose(same, x, atol=1e-5)


def test_augment_changes_the_contrast_of_the_pictures_but_not_of_a_lesion_channel():
    x = torch.randn(4, 2, 32, 32)
    x[:, 1] = (torch.rand(4, 32, 32) > 0.7).float()  # a mask
    options = {"p": 1.0, "rotate_deg": 0.0, "zoom_max": 1.0, "contrast": 0.5}
    kept = data.augment(x, torch.Generator().manual_seed(0), **options, images=1)
    assert not torch.allclose(kept[:, 0], x[:, 0], atol=1e-3)
    assert torch.allclose(kept[:, 1], x[:, 1], atol=1e-5)
    every = data.augment(x, torch.Generator().manual_seed(0), **options)
    assert torch.allclose(every[:, 0], kept[:, 0]) and not torch.allclose(every[:, 1], x[:, 1], atol=1e-3)


def test_model_settings_count_the_lesion_channel_and_leave_old_params_alone(cfg):
    from egfrmet.config.settings import model_settings

    config = cfg  # changed below: the session's config must stay the defaults

    assert "lesion_channel" not in model_settings(config) and "channels" not in model_settings(config)
    config["model"]["lesion_channel"] = True
    assert model_settings(config)["channels"] == 2 and model_settings(config)["lesion_channel"]
    config["inputs"]["sequences"] = ["t2"]
    assert model_settings(config)["channels"] == 3


def test_the_loop_learns_from_the_lesion_channel_what_the_picture_does_not_show(config):
    """Pictures of pure noise, the label in the lesion mask's size alone: with the lesion
    channel the network separates held-out patients."""

    def patients(n, seed):
        rng = np.random.default_rng(seed)
        yy, xx = np.mgrid[:32, :32]
        x, y = [], []
        for patient in range(n):
            radius = 9 if patient % 2 else 4
            mask = np.hypot(yy - rng.uniform(12, 20), xx - rng.uniform(12, 20)) < radius
            x += [np.stack([rng.normal(0, 1, (32, 32)), mask]) for _ in range(3)]
            y += [patient % 2] * 3
        return torch.tensor(np.stack(x), dtype=torch.float32), torch.tensor(y)

    (x_train, y_train), (x_val, y_val) = patients(16, 0), patients(8, 1)
    settings = config["train"] | {"epochs": 5, "lr": 3e-3, "batch_size": 8, "device": "cpu"}
    model = tiny_model(head_hidden=16)
    model |= {"channels": 2, "lesion_channel": True}
    torch.set_num_threads(2)
    _, kept = train.train_fold(
        x_train, y_train, x_val, y_val, model_settings=model, settings=settings, device=torch.device("cpu")
    )
    assert roc_auc_score(y_val.numpy(), kept["last"]["probs"].numpy()) >= 0.9


def test_build_training_cycles_lr_and_momentum_as_fastai(config):
    """egfrmet's own optimiser and schedule: lr from lr/div up to lr after pct_start, then down
    to lr/div_final (fastai's meaning); AdamW's beta1 the other way, moms[0] -> moms[1] -> moms[0];
    beta2 as configured."""
    settings = config["train"]
    model_settings = tiny_model(dropout=[0, 0])
    steps_per_epoch = 5
    state = training_state.build_training(model_settings, settings, steps_per_epoch, torch.device("cpu"))
    optimizer, scheduler = state.optimizer, state.scheduler
    steps = settings["epochs"] * steps_per_epoch
    lrs, beta1s = [], []
    for _ in range(steps):
        group = optimizer.param_groups[0]
        lrs.append(group["lr"])
        beta1s.append(group["betas"][0])
        assert group["betas"][1] == settings["beta2"]
        optimizer.step()
        scheduler.step()
    lr, (high, low) = settings["lr"], settings["moms"]
    peak = int(np.argmax(lrs))
    assert lrs[0] == pytest.approx(lr / settings["div"])
    assert lrs[peak] == pytest.approx(lr, rel=1e-3) and abs(peak - settings["pct_start"] * steps) <= 1
    assert lrs[-1] == pytest.approx(lr / settings["div_final"], rel=0.5)
    assert beta1s[0] == pytest.approx(high) and beta1s[peak] == pytest.approx(low, abs=1e-3)
    assert beta1s[-1] == pytest.approx(high, abs=1e-3)
    assert len({g["lr"] for g in optimizer.param_groups}) == 1  # both weight-decay groups follow it


@pytest.mark.parametrize("steps", [1, 2, 3, 4, 5, 8])
def test_one_cycle_schedule_runs_with_very_few_steps(config, steps):
    """A tiny inner fold can give 4 optimiser steps in all: the warm-up is then one step,
    which PyTorch's one-cycle cannot divide by."""
    settings = config["train"] | {"epochs": 1}
    model_settings = tiny_model(dropout=[0, 0])
    state = training_state.build_training(model_settings, settings, steps, torch.device("cpu"))
    optimizer, scheduler = state.optimizer, state.scheduler
    for _ in range(steps):
        optimizer.step()
        scheduler.step()
    assert optimizer.param_groups[0]["lr"] < settings["lr"]


def test_state_dict_file_loads_with_its_imagenet_head_replaced(tmp_path):
    """model.weights: <path> goes through timm's own loader (weights_only) and drops the classifier."""
    import timm

    source = timm.create_model("resnet10t", num_classes=1000)
    path = tmp_path / "resnet10t_imagenet.pth"
    torch.save(source.state_dict(), path)
    model = create_model(arch="resnet10t", weights=str(path), pretrained_tag="", head_hidden=16, dropout=[0.25, 0.5])
    body = model[0]
    # conv1 of a 1-channel model is the sum of the pretrained RGB filters
    stem = "conv1.0.weight"
    assert torch.allclose(body.state_dict()[stem], source.state_dict()[stem].sum(1, keepdim=True), atol=1e-6)
    assert torch.equal(body.state_dict()["layer4.0.conv1.weight"], source.state_dict()["layer4.0.conv1.weight"])
    assert model(torch.randn(2, 1, 64, 64)).shape == (2, 2)


def test_imagenet_input_feeds_the_pretrained_rgb_filters_as_fastai_fed_the_papers_pictures(tmp_path):
    """model.input imagenet: the crop min-max scaled to [0, 1] (a PNG's grey levels), three
    equal channels normalised with ImageNet's mean and SD, into the unsummed RGB filters."""
    import timm

    source = timm.create_model("resnet10t", num_classes=1000)
    path = tmp_path / "resnet10t_imagenet.pth"
    torch.save(source.state_dict(), path)
    options = {"arch": "resnet10t", "pretrained_tag": "", "head_hidden": 16, "dropout": [0.25, 0.5]}
    model = create_model(weights=str(path), input="imagenet", **options)
    prepare, body = model[0]
    assert torch.equal(body.state_dict()["conv1.0.weight"], source.state_dict()["conv1.0.weight"])
    x = torch.randn(2, 1, 32, 32) * 3 + 1
    grey = (x - x.amin((1, 2, 3), keepdim=True)) / (x.amax((1, 2, 3), keepdim=True) - x.amin((1, 2, 3), keepdim=True))
    expected = torch.cat([(grey - m) / s for m, s in zip((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))], 1)
    assert torch.allclose(prepare(x), expected, atol=1e-5)
    assert torch.allclose(prepare(2 * x + 5), prepare(x), atol=1e-5)  # any z-score gives one picture
    saved = tmp_path / "fold.pt"
    torch.save(model.state_dict(), saved)
    again = load_model(str(saved), options | {"weights": "none", "input": "imagenet"}, "cpu")
    assert torch.equal(again.eval()(x), model.eval()(x))
    # input auto: imagenet for a pretrained body (as the fold model was trained), zscore from scratch
    auto = load_model(str(saved), options | {"weights": str(path), "input": "auto"}, "cpu")
    assert torch.equal(auto.eval()(x), model.eval()(x))
    assert create_model(weights="none", input="auto", **options)[0].conv1[0].in_channels == 1


@pytest.mark.parametrize("input_mode", ["zscore", "imagenet"])
def test_a_pretrained_body_takes_further_sequences_as_channels(tmp_path, input_mode):
    """T1c plus a second sequence: conv1 takes 2 channels, timm's adaptation of the RGB
    filters (repeated over the channels, scaled by 3 / C); imagenet input normalises each
    channel on its own; a saved fold model loads again with the same channels."""
    import timm

    source = timm.create_model("resnet10t", num_classes=1000)
    path = tmp_path / "resnet10t_imagenet.pth"
    torch.save(source.state_dict(), path)
    options = {"arch": "resnet10t", "pretrained_tag": "", "head_hidden": 16, "dropout": [0.25, 0.5], "channels": 2}
    model = create_model(weights=str(path), input=input_mode, **options)
    body = model[0][-1] if input_mode == "imagenet" else model[0]
    rgb = source.state_dict()["conv1.0.weight"]
    assert torch.allclose(body.state_dict()["conv1.0.weight"], rgb[:, :2] * 1.5, atol=1e-6)
    x = torch.randn(3, 2, 32, 32)
    x[:, 1] = 10 * x[:, 1] + 7  # the second channel on another scale
    assert model.eval()(x).shape == (3, 2)
    if input_mode == "imagenet":
        prepared = model[0][0](x)
        grey = (x - x.amin((2, 3), keepdim=True)) / (x.amax((2, 3), keepdim=True) - x.amin((2, 3), keepdim=True))
        assert torch.allclose(prepared, (grey - 0.449) / 0.226, atol=1e-3)
    saved = tmp_path / "fold.pt"
    torch.save(model.state_dict(), saved)
    again = load_model(str(saved), options | {"weights": "none", "input": input_mode}, "cpu")
    assert torch.equal(again.eval()(x), model.eval()(x))
    with pytest.raises(RuntimeError):  # a 1-channel model is not these weights
        load_model(str(saved), options | {"weights": "none", "input": input_mode, "channels": 1}, "cpu")


def test_missing_weights_file_says_what_to_do():
    with pytest.raises(InputError, match="model.weights: no such file"):
        create_model(arch="resnet10t", weights="/no/such.pth", pretrained_tag="", head_hidden=8, dropout=[0, 0])


def test_unreachable_hub_fails_with_how_to_pass_a_local_file():
    """In a fresh process with the hub switched off (the hub client reads it at import)."""
    code = (
        "from egfrmet.training.model import create_model\n"
        "from egfrmet.errors import InputError\n"
        "try:\n"
        "    create_model(\n"
        "        arch='resnet10t', weights='imagenet', pretrained_tag='', head_hidden=8, dropout=[0, 0]\n"
        "    )\n"
        "except InputError as error:\n"
        "    print(error)\n"
    )
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert "could not load ImageNet weights 'resnet10t'" in result.stdout
    # the one recipe every message gives (weights.offline_advice): egfrmet weights, then the file
    assert "egfrmet weights --arch resnet10t" in result.stdout
    assert "model.weights: /path/to/resnet10t.safetensors" in result.stdout


def test_frozen_body_trains_only_batchnorm_and_the_head():
    model = create_model(arch="resnet10t", weights="none", pretrained_tag="", head_hidden=8, dropout=[0, 0])
    freeze_body(model)
    for module in model[0].modules():
        is_norm = isinstance(module, torch.nn.BatchNorm2d)
        for parameter in module.parameters(recurse=False):
            assert parameter.requires_grad == is_norm, module
    assert all(p.requires_grad for p in model[1].parameters())
    groups = parameter_groups(model, 0.01)
    assert groups[0]["weight_decay"] == 0.01 and groups[1]["weight_decay"] == 0.0
    assert all(p.ndim > 1 for p in groups[0]["params"]) and all(p.ndim == 1 for p in groups[1]["params"])


def separable_slices(n_patients, seed):
    """Patients of 5 slices: a bright ring whose centre is dark (label 0) or bright (label 1)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:64, :64]
    images, labels, owners = [], [], []
    for patient in range(n_patients):
        label = patient % 2
        cy, cx = rng.uniform(24, 40, 2)
        r = np.hypot(yy - cy, xx - cx)
        for _ in range(5):
            radius = rng.uniform(8, 12)
            image = np.where(r < radius, 2.0, 0.0) - np.where(r < radius * 0.5, 0.5 if label else 2.0, 0.0)
            images.append(image + rng.normal(0, 0.5, image.shape))
            labels.append(label)
            owners.append(patient)
    x = torch.tensor(np.stack(images), dtype=torch.float32).unsqueeze(1)
    return x, torch.tensor(labels), np.array(owners)


@pytest.mark.slow
def test_the_loop_learns_a_separable_set(config):
    """A tiny network, a few epochs on the CPU: pooled patient AUC >= 0.9 on held-out patients."""
    x_train, y_train, _ = separable_slices(24, seed=0)
    x_val, y_val, owners = separable_slices(12, seed=1)
    settings = config["train"] | {"epochs": 6, "lr": 3e-3, "batch_size": 16, "device": "cpu"}
    model = tiny_model(head_hidden=32)
    torch.set_num_threads(2)
    history, kept = train.train_fold(
        x_train,
        y_train,
        x_val,
        y_val,
        model_settings=model,
        settings=settings,
        device=torch.device("cpu"),
        selections=["last"],
    )
    probs, epoch = kept["last"]["probs"], kept["last"]["epoch"]
    assert (
        len(history) == 6
        and epoch == 5
        and set(history.columns) >= {"lr", "train_loss", "val_loss", "val_acc", "val_f1", "val_auc", "seconds"}
    )
    patient_probs = [float(np.median(probs.numpy()[owners == p])) for p in range(12)]
    patient_labels = [p % 2 for p in range(12)]
    assert roc_auc_score(patient_labels, patient_probs) >= 0.9
    assert history.train_loss.iloc[-1] < history.train_loss.iloc[0]
    assert not math.isnan(history.val_auc.iloc[-1])


def test_same_seed_same_result_on_cpu(config):
    x, y, _ = separable_slices(6, seed=0)
    settings = config["train"] | {"epochs": 2, "lr": 3e-3, "batch_size": 8, "device": "cpu"}
    model = tiny_model()
    runs = [
        train.train_fold(x, y, x, y, model_settings=model, settings=settings, device=torch.device("cpu"))[1]["last"]
        for _ in range(2)
    ]
    assert torch.equal(runs[0]["probs"], runs[1]["probs"])
    assert all(torch.equal(runs[0]["state"][k], runs[1]["state"][k]) for k in runs[0]["state"])


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_training_and_inference_run_in_either_precision_on_any_cpu(config, precision):
    """Whatever the CPU (AMX or not), a forced precision trains and scores in it: bf16
    autocast runs on every x86 CPU, slower without AMX. One decision serves the training's
    validation and a later prediction, so they agree; the other precision differs a little."""
    from egfrmet.training.model import predict_probabilities
    from egfrmet.training.runtime import inference, use_bf16

    x, y, _ = separable_slices(6, seed=0)
    settings = config["train"] | {"epochs": 1, "lr": 3e-3, "batch_size": 8, "device": "cpu", "precision": precision}
    model = tiny_model()
    device = torch.device("cpu")
    assert use_bf16(settings, device) == (precision == "bf16")
    _, kept = train.train_fold(x, y, x, y, model_settings=model, settings=settings, device=device)
    network = create_model(**model)
    network.load_state_dict(kept["last"]["state"])
    batch = 2 * settings["batch_size"]
    again = predict_probabilities(network, x, device, batch_size=batch, **inference(settings, device))
    assert torch.allclose(again, kept["last"]["probs"], atol=1e-6)  # validation computed as prediction does
    other = predict_probabilities(
        network, x, device, batch_size=batch, bf16=precision != "bf16", channels_last=settings["channels_last"]
    )
    assert torch.isfinite(other).all() and not torch.equal(other, again)
    assert torch.allclose(other, again, atol=0.05)  # bf16 against fp32: close, not equal


class Payload:
    """What a booby-trapped checkpoint holds: unpickling it would create `marker`."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return open, (self.marker, "w")


@pytest.mark.parametrize("loader", ["model.weights", "fold model", "checkpoint"])
def test_a_pickle_with_a_code_payload_is_refused(tmp_path, loader):
    marker = tmp_path / "payload-ran"
    path = tmp_path / "weights.pth"
    torch.save({"conv1.weight": torch.zeros(1), "trap": Payload(str(marker))}, path)
    settings = {"arch": "resnet10t", "pretrained_tag": "", "head_hidden": 8, "dropout": [0, 0]}
    load = {
        "model.weights": lambda: create_model(weights=str(path), **settings),
        "fold model": lambda: load_model(str(path), settings | {"weights": "none"}, "cpu"),
        "checkpoint": lambda: checkpoints.resume(str(path), "fingerprint", None),
    }[loader]
    with pytest.raises(Exception, match="(?i)weights.only") as error:
        load()
    assert "Payload" in str(error.value) or "open" in str(error.value)
    assert not marker.exists()


def test_deterministic_switch_sets_torch_cudnn_and_cublas(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    try:
        train.set_deterministic(True)
        assert torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8" and not torch.backends.cudnn.benchmark
    finally:
        train.set_deterministic(False)
    assert not torch.are_deterministic_algorithms_enabled()


def test_the_torch_stages_import_no_imaging_library():
    """train, evaluate, predict, ensemble, baseline and explain run in envs/torch.yaml, which holds no SimpleITK."""
    modules = ", ".join(
        f"egfrmet.{name}"
        for name in ("training.train", "evaluation.evaluate", "inference.predict", "inference.ensemble")
        + ("baselines.methods", "explain.gradcam")
    )
    code = f"import sys, {modules}; print('SimpleITK' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "False", result.stderr


@pytest.fixture
def pretrained(tmp_path):
    """A tiny 'pretrained' body: timm's resnet10t with random weights saved as a state dict."""
    import timm

    path = tmp_path / "resnet10t_pretrained.pth"
    torch.save(timm.create_model("resnet10t", num_classes=1000).state_dict(), path)
    return tiny_model(weights=str(path))


CPU = torch.device("cpu")


def fine_tune_settings(config, epochs=1, tuned=2):
    tune = config["train"]["fine_tune"] | {"epochs": tuned, "lr": 1e-3}
    return config["train"] | {"epochs": epochs, "lr": 3e-3, "batch_size": 8, "device": "cpu", "fine_tune": tune}


def test_fine_tune_trains_the_body_only_after_the_frozen_epochs_at_lr_over_lr_mult(config, pretrained):
    x, y, _ = separable_slices(6, seed=0)
    body_start = create_model(**pretrained)[0].state_dict()["conv1.0.weight"]
    runs = {}
    for tuned in (0, 2):
        settings = fine_tune_settings(config, tuned=tuned)
        history, kept = train.train_fold(x, y, x, y, model_settings=pretrained, settings=settings, device=CPU)
        runs[tuned] = history, kept["last"]["state"]["0.conv1.0.weight"]
    assert len(runs[0][0]) == 1 and torch.equal(runs[0][1], body_start)  # frozen: conv weights as loaded
    history, conv = runs[2]
    assert len(history) == 3 and not torch.equal(conv, body_start)
    # the lr column is the body's group: after the frozen epoch, at most 1e-3 / lr_mult
    assert (history.lr.iloc[1:] <= 1e-3 / config["train"]["fine_tune"]["lr_mult"] * (1 + 1e-9)).all()
    state = training_state.fine_tune_training(
        training_state.build_training(pretrained, fine_tune_settings(config), 3, CPU), fine_tune_settings(config), 3
    )
    peaks = sorted({group["max_lr"] for group in state.optimizer.param_groups})
    assert peaks == pytest.approx([1e-3 / config["train"]["fine_tune"]["lr_mult"], 1e-3])
    assert all(p.requires_grad for p in state.model.parameters())


def test_a_training_killed_while_fine_tuning_resumes_as_if_never_killed(config, pretrained, tmp_path):
    x, y, _ = separable_slices(6, seed=0)
    settings = fine_tune_settings(config, epochs=1, tuned=2)
    options = {"model_settings": pretrained, "settings": settings, "device": CPU}
    straight = train.train_fold(x, y, x, y, **options)[1]["last"]

    def killed_at(stop):
        def progress(epoch):
            if epoch == stop:
                raise KeyboardInterrupt
            return None

        return progress

    checkpoint = str(tmp_path / "fold0.pt")
    with pytest.raises(KeyboardInterrupt):  # after the frozen epoch and one fine-tuning epoch
        train.train_fold(x, y, x, y, **options, checkpoint=checkpoint, progress=killed_at(2))
    history, kept = train.train_fold(x, y, x, y, **options, checkpoint=checkpoint)
    assert len(history) == 3 and torch.equal(kept["last"]["probs"], straight["probs"])
    assert all(torch.equal(kept["last"]["state"][k], straight["state"][k]) for k in straight["state"])


def test_fine_tune_needs_a_frozen_body_and_is_absent_from_the_params_unless_it_has_epochs(cfg):
    from egfrmet.config.settings import check_config, train_settings
    from egfrmet.training.final import of_length

    config = cfg  # changed below: the session's config must stay the defaults

    assert "fine_tune" not in train_settings(config) and "final" not in train_settings(config)
    config["train"]["fine_tune"]["epochs"] = 3
    assert train_settings(config)["fine_tune"]["epochs"] == 3
    config["model"]["weights"] = "none"
    with pytest.raises(InputError, match="fine_tune.epochs .*frozen body"):
        check_config(config)
    config["train"]["freeze_body"] = True
    check_config(config)
    # a final model of 5 epochs after 4 frozen ones has 1 fine-tuning epoch; of 3, none
    settings = train_settings(config) | {"epochs": 4}
    assert (of_length(settings, 5)["epochs"], of_length(settings, 5)["fine_tune"]["epochs"]) == (4, 1)
    assert (of_length(settings, 3)["epochs"], of_length(settings, 3)["fine_tune"]["epochs"]) == (3, 0)
