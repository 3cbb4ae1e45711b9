"""Images per second of the real training loop against the bare model step, in one process.

The real loop is `egfrmet.training.train.train_epoch`: weighted sampling, tensor augmentation, mixup,
soft-F1 loss, AdamW and the one-cycle step, on a fold's crops held in one tensor. The
baseline is forward + backward + step of the same model on one fixed batch. Their ratio is
the share of time the model computes; the goal is >= 95 % (fastai reaches 52 % here with its
default loader workers, 79 % without).

    python benchmarks/train_throughput.py                 # CPU, resnet50, 96 x 96, batch 32
    python benchmarks/train_throughput.py --device cuda   # the same on a GPU (bf16, channels_last)
"""

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml

from egfrmet.training import runtime, train
from egfrmet.training import state as training_state

CONFIG = Path(__file__).resolve().parents[1] / "config" / "config.yaml"


def bare_steps(model, optimizer, x, targets, settings, bf16, steps):
    model.train()
    x = x.contiguous(memory_format=torch.channels_last) if settings["channels_last"] else x
    for _ in range(steps):
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(x)
        loss = train.soft_f1_loss(logits, targets, settings["f1_average"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return loss.item()  # waits for the device


def timed(function):
    start = time.perf_counter()
    function()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--arch", default="resnet50")
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--samples", type=int, default=240, help="training slices (a fold of the paper's cohort: 236)")
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs of the real loop")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()

    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    settings = config["train"] | {"precision": args.precision, "epochs": args.epochs + 1}
    model_settings = config["model"] | {"arch": args.arch, "weights": "none"}
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    bf16 = runtime.use_bf16(settings, device)
    batch = settings["batch_size"]
    steps = args.samples // batch

    x = torch.randn(args.samples, 1, args.size, args.size, device=device)
    y = (torch.rand(args.samples) < 0.27).long()  # the paper's share of positives
    state = training_state.build_training(model_settings, settings, steps, device)
    model, optimizer = state.model, state.optimizer

    # warm-up: one epoch of the real loop (allocators, cuDNN autotuning, lazy init)
    train.train_epoch(state, x, y, settings, device, bf16)
    fixed_x, fixed_targets = x[:batch], F.one_hot(y[:batch], 2).float().to(device)
    bare_steps(model, optimizer, fixed_x, fixed_targets, settings, bf16, 2)

    rounds = []
    for _ in range(args.epochs):  # interleaved, so drift in machine load hits both alike
        loop = timed(lambda: train.train_epoch(state, x, y, settings, device, bf16))
        bare = timed(lambda: bare_steps(model, optimizer, fixed_x, fixed_targets, settings, bf16, steps))
        rounds.append((loop, bare))
    loop_s = sum(r[0] for r in rounds)
    bare_s = sum(r[1] for r in rounds)
    images = args.epochs * steps * batch
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({args.threads} threads)"
    print(f"device     {name}")
    print(f"model      {args.arch} at {args.size}x{args.size}, batch {batch}, {'bf16' if bf16 else 'fp32'}")
    print(f"{'':10} {'images/s':>9} {'s/epoch':>8}")
    print(f"{'real loop':10} {images / loop_s:9.1f} {loop_s / args.epochs:8.2f}")
    print(f"{'bare step':10} {images / bare_s:9.1f} {bare_s / args.epochs:8.2f}")
    print(f"ratio      {bare_s / loop_s:.1%} of the bare step's throughput (goal >= 95%)")


if __name__ == "__main__":
    main()
