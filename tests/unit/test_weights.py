"""ImageNet weights on a machine without internet (egfrmet.training.weights): the parse-time
refusal, and `egfrmet weights` from a torchvision checkpoint (the hub's path needs the hub)."""

import pytest
import torch
import torchvision

from egfrmet.errors import InputError
from egfrmet.training import weights
from egfrmet.training.model import create_body

RESNET50 = {"weights": "imagenet", "arch": "resnet50", "pretrained_tag": "tv_in1k"}


def fake_cache(folder, repo, file="model.safetensors"):
    """The Hugging Face cache's layout for one downloaded file (refs/main -> a snapshot)."""
    root = folder / f"models--{repo.replace('/', '--')}"
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text("abc123", encoding="utf-8")
    (root / "snapshots" / "abc123").mkdir(parents=True)
    (root / "snapshots" / "abc123" / file).write_bytes(b"weights")


def test_imagenet_weights_not_cached_with_the_hub_switched_off_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InputError) as error:
        weights.check_available(RESNET50, cache_dir=tmp_path, reachable=lambda: pytest.fail("the hub is off"))
    message = str(error.value)
    assert "resnet50.tv_in1k" in message and "HF_HUB_OFFLINE" in message
    assert "egfrmet weights --arch resnet50 --tag tv_in1k" in message and "model.weights: none" in message


def test_an_unreachable_hub_is_refused_and_cached_weights_pass(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with pytest.raises(InputError, match="does not answer"):
        weights.check_available(RESNET50, cache_dir=tmp_path, reachable=lambda: False)
    fake_cache(tmp_path, "timm/resnet50.tv_in1k")
    weights.check_available(RESNET50, cache_dir=tmp_path, reachable=lambda: pytest.fail("cached: no need to ask"))
    weights.check_available(RESNET50 | {"weights": "none"}, reachable=lambda: pytest.fail("nothing to fetch"))


def test_a_torchvision_checkpoint_becomes_weights_timm_loads(tmp_path):
    original = torchvision.models.resnet18(weights=None)
    torch.save(original.state_dict(), tmp_path / "resnet18-tv.pth")
    out = tmp_path / "resnet18.safetensors"
    weights.run(arch="resnet18", tag="", torchvision_checkpoint=str(tmp_path / "resnet18-tv.pth"), out=str(out))
    body = create_body("resnet18", str(out), "", in_chans=3)
    assert torch.equal(body.conv1.weight, original.conv1.weight)
    assert torch.equal(body.layer4[1].bn2.running_var, original.layer4[1].bn2.running_var)


def test_a_checkpoint_of_another_architecture_is_refused(tmp_path):
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), tmp_path / "resnet18-tv.pth")
    with pytest.raises(InputError, match="not a checkpoint of timm's resnet34") as error:
        weights.run(
            arch="resnet34",
            tag="",
            torchvision_checkpoint=str(tmp_path / "resnet18-tv.pth"),
            out=str(tmp_path / "w.safetensors"),
        )
    assert "resnet18-tv.pth" in str(error.value) and not (tmp_path / "w.safetensors").exists()
