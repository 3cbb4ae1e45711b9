"""Computed brain masks: deepbet against the morphological fallback, same run, same images.

For each image: N4 as the workflow runs it (config/config.yaml), then each method's mask;
prints seconds per volume and Dice against a reference:
- skull1 (the real scans' folder, EGFRMET_REAL_DATA): a raw post-contrast T1 with skull and scalp, scored against
  the reference mask that ships beside it;
- generated demo patients (config/demo.yaml's shape), scored against their true brain (the
  mask the demo gives every second patient).
deepbet's first call in a process also loads its two networks; the time printed is per call
after that one (the load is printed apart).

    python benchmarks/brain_mask.py                   # 2 threads, skull1 + 3 demo patients
    python benchmarks/brain_mask.py --patients 0      # skull1 only
"""

import argparse
import os
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch
import yaml

from egfrmet.demo import synth
from egfrmet.preprocessing import bias, brainmask
from egfrmet.training.runtime import device_name

REPO = Path(__file__).resolve().parents[1]
# The real scans are not ours to ship: EGFRMET_REAL_DATA names their folder (docs/development.md).
REAL = Path(os.environ.get("EGFRMET_REAL_DATA") or REPO.parent / "shared" / "data" / "real")


def dice(a, b):
    return 2 * (a & b).sum() / (a.sum() + b.sum())


def images(config, n_patients):
    """(name, bias-corrected image, reference brain) for skull1 and `n_patients` demo patients."""
    n4 = config["preprocess"]["n4"]
    if (REAL / "skull1_t1c.nii.gz").exists():
        raw = sitk.ReadImage(str(REAL / "skull1_t1c.nii.gz"))
        reference = sitk.GetArrayFromImage(sitk.ReadImage(str(REAL / "skull1_brainmask.nii.gz"))) > 0
        yield "skull1 (real, skull on)", bias.correct(raw, bias.head_mask(raw), threads=2, **n4)[0], reference
    else:
        print(f"skull1 not found in {REAL}: demo patients only")
    demo = yaml.safe_load((REPO / "config" / "demo.yaml").read_text(encoding="utf-8"))
    settings = config["synth"]["patient"] | demo.get("synth", {}).get("patient", {})
    for i in range(n_patients):
        pid = f"P{i + 1:03d}"
        patient = synth.make_patient(pid, label=i % 2, center="A", **settings)
        raw = sitk.Cast(synth.to_image(patient["image"], patient), sitk.sitkFloat32)
        truth = sitk.GetArrayFromImage(synth.to_image(patient["brain"], patient, np.uint8)) > 0  # stored grid
        yield f"{pid} (generated demo)", bias.correct(raw, bias.head_mask(raw), threads=2, **n4)[0], truth


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--patients", type=int, default=3, help="generated demo patients")
    args = parser.parse_args()
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text(encoding="utf-8"))
    options = config["preprocess"]["brain_mask"]
    methods = {
        "deepbet": {"device": "cpu", "threshold": options["threshold"]},
        "morphology": {"erode_mm": options["erode_mm"]},
    }
    torch.set_num_threads(args.threads)
    print(f"CPU: {device_name(torch.device('cpu'))}, {args.threads} threads, torch {torch.__version__}")
    start = time.perf_counter()
    from deepbet import BrainExtraction

    BrainExtraction(no_gpu=True)
    print(f"deepbet import and network load: {time.perf_counter() - start:.2f} s (once per job)")
    print(f"{'image':28} {'method':11} {'seconds':>8} {'Dice':>7} {'volume / reference':>19}")
    for name, image, reference in images(config, args.patients):
        for method, settings in methods.items():
            start = time.perf_counter()
            mask = brainmask.compute(image, method=method, threads=args.threads, **settings)
            seconds = time.perf_counter() - start
            ratio = mask.sum() / reference.sum()
            print(f"{name:28} {method:11} {seconds:8.2f} {dice(mask, reference):7.3f} {ratio:19.3f}")


if __name__ == "__main__":
    main()
