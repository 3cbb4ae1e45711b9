"""N4 bias correction: SimpleITK and antspyx, each at its own defaults and at ours.

One generated head with a known bias field goes through four set-ups (ours: the head mask and
config/config.yaml's settings; defaults: the image alone, as each library's call comes); for each we print the
seconds per volume, the white-matter coefficient of variation after correction against the
truth (the image divided by its known field) and the speed against antspyx's defaults.
Goal: our default (SimpleITK, config/config.yaml) >= 7x faster than antspyx's defaults at
equal or better CV, on 2 cores.

    python benchmarks/n4.py                     # 256 x 256 x 160 at 1 mm, 2 threads
    python benchmarks/n4.py --shape 128 160 112 --skip-sitk-defaults
"""

import argparse
import os
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import yaml

from egfrmet import bias, synth

CONFIG = Path(__file__).resolve().parents[1] / "config" / "config.yaml"


def sitk_defaults(image, threads):
    """SimpleITK's N4 filter as it comes: the image alone, full resolution."""
    n4 = sitk.N4BiasFieldCorrectionImageFilter()
    n4.SetNumberOfThreads(threads)
    n4.Execute(image)
    return sitk.Exp(n4.GetLogBiasFieldAsImage(image))


def ants_defaults(image, threads):
    """ants.n4_bias_field_correction(image): no mask (all voxels), shrink 4, 4 x 50 at tol 1e-7."""
    os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = str(threads)
    import ants

    field = ants.n4_bias_field_correction(bias.to_ants(image), return_bias_field=True)
    return bias.from_ants(field, image)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, default=[256, 256, 160], help="voxels (x y z), 1 mm")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--patient", default="P001", help="which generated patient (its own field and anatomy)")
    parser.add_argument("--skip-sitk-defaults", action="store_true", help="full-resolution SimpleITK is slow")
    args = parser.parse_args()

    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    ours = {k: v for k, v in config["preprocess"]["n4"].items() if k != "backend"}
    settings = config["synth"]["patient"] | {"shape": args.shape, "spacing": [1.0, 1.0, 1.0]}
    patient = synth.make_patient(args.patient, label=0, center="A", **settings)
    image = sitk.Cast(synth.to_image(patient["image"], patient), sitk.sitkFloat32)
    mask = bias.fit_mask(image, bias.head_mask(image))  # as bias.correct builds it

    def white_matter_cv(values):
        white = values[patient["white"]]
        return white.std() / white.mean()

    def stored_to_generated(values):
        return values if patient["direction"][4] > 0 else values[:, ::-1]

    setups = [
        ("SimpleITK, ours", lambda: bias.field_sitk(image, mask, threads=args.threads, **ours)),
        ("antspyx, ours", lambda: bias.field_ants(image, mask, threads=args.threads, **ours)),
        ("antspyx, defaults", lambda: ants_defaults(image, args.threads)),
    ]
    if not args.skip_sitk_defaults:
        setups.append(("SimpleITK, defaults", lambda: sitk_defaults(image, args.threads)))

    truth = white_matter_cv(patient["unbiased"])
    raw = white_matter_cv(patient["image"].astype(np.float32))
    results = {}
    for name, fit in setups:
        start = time.perf_counter()
        field = fit()
        seconds = time.perf_counter() - start
        corrected = stored_to_generated(sitk.GetArrayFromImage(image / field))
        results[name] = (seconds, white_matter_cv(corrected))
        print(f"  {name}: {seconds:.1f} s", flush=True)

    reference = results["antspyx, defaults"][0]
    print(
        f"\npatient {args.patient}, volume {tuple(args.shape)} at 1 mm, {args.threads} threads; "
        f"white-matter CV: truth {truth:.4f}, uncorrected {raw:.4f}"
    )
    print(f"{'set-up':22} {'s/volume':>9} {'WM CV':>7} {'vs truth':>9} {'speed vs antspyx defaults':>26}")
    for name, (seconds, cv) in results.items():
        print(f"{name:22} {seconds:9.1f} {cv:7.4f} {cv / truth - 1:+9.1%} {reference / seconds:25.1f}x")


if __name__ == "__main__":
    main()
