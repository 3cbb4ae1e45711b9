"""N4 bias correction: SimpleITK and antspyx, each at its own defaults and at ours.

Generated heads with a known bias field, and the real scans (EGFRMET_REAL_DATA) when
present, go through each set-up (ours: config/config.yaml's `preprocess.n4`; defaults: the
image alone, as each library's call comes). We print seconds per volume, the speed against
antspyx's defaults, and how flat the result is: on a generated head the white-matter
coefficient of variation against the truth (the image divided by its known field); on a real
scan, which has no truth, the low-frequency non-uniformity in the head
(`bias.nonuniformity`, a rough figure: the head's brightest class holds scalp fat too).
Goal: our default >= 7x faster than antspyx's defaults at equal or better CV, on 2 cores.

    python benchmarks/n4.py --skip-sitk-defaults          # P001-P003 at 256 x 256 x 160, 1 mm
    python benchmarks/n4.py --patients P001 --shape 128 160 112 --no-real
"""

import argparse
import itertools
import os
import time
from pathlib import Path

import SimpleITK as sitk
import torch
import yaml

from egfrmet.demo import synth
from egfrmet.preprocessing import bias
from egfrmet.training.runtime import device_name

REPO = Path(__file__).resolve().parents[1]
# The real scans are not ours to ship: EGFRMET_REAL_DATA names their folder (docs/development.md).
REAL = Path(os.environ.get("EGFRMET_REAL_DATA") or REPO.parent / "shared" / "data" / "real")
REAL_SCANS = ["brain1_image.nrrd", "brain2_image.nrrd", "skull1_t1c.nii.gz"]


def sitk_defaults(image, threads):
    """SimpleITK's N4 filter as it comes: the image alone, full resolution."""
    n4 = sitk.N4BiasFieldCorrectionImageFilter()
    n4.SetNumberOfThreads(threads)
    n4.Execute(image)
    return sitk.Exp(n4.GetLogBiasFieldAsImage(image))


def ants_defaults(image, threads):
    """ants.n4_bias_field_correction(image): every voxel, shrink 4 on each axis, 4 x 50 at tol 1e-7."""
    os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = str(threads)
    import ants

    field = ants.n4_bias_field_correction(bias.to_ants(image), return_bias_field=True)
    return bias.from_ants(field, image)


def setups(ours, threads, sitk_too):
    """(name, fit(image, head) -> field) for each set-up: ours and its variants through
    `bias.correct`, the workflow's own call (fit region, shrink, backend)."""

    def fitted(**changes):
        return lambda image, head: bias.correct(image, head, threads=threads, **(ours | changes))[1]

    previous = {"fit_region": "tissue", "shrink": 4, "iterations": [50] * 4, "spline_order": 3, "control_points": 4}
    chosen = [
        ("SimpleITK, ours", fitted()),
        ("SimpleITK, ours, tissue", fitted(fit_region="tissue")),
        ("SimpleITK, until 2026-11-29", fitted(**previous)),  # cubic, 4 levels, thick slices in-plane only
        ("antspyx, ours but cubic", fitted(backend="ants", spline_order=3)),  # antspyx fits cubic splines only
        ("antspyx, defaults", lambda image, head: ants_defaults(image, threads)),
    ]
    if sitk_too:
        chosen.append(("SimpleITK, defaults", lambda image, head: sitk_defaults(image, threads)))
    return chosen


def generated(names, shape, config):
    """(name, image, head mask, flatness(corrected image)) per generated patient: WM CV / truth - 1."""
    settings = config["synth"]["patient"] | {"shape": shape, "spacing": [1.0, 1.0, 1.0]}
    for name in names:
        patient = synth.make_patient(name, label=0, center="A", **settings)
        image = sitk.Cast(synth.to_image(patient["image"], patient), sitk.sitkFloat32)

        def flatness(corrected, patient=patient, truth=synth.white_matter_cv(patient["unbiased"], patient)):
            values = synth.from_stored(sitk.GetArrayFromImage(corrected), patient)
            return f"WM CV {synth.white_matter_cv(values, patient) / truth - 1:+.1%}"

        yield f"{name} (generated, {'x'.join(map(str, shape))} at 1 mm)", image, bias.head_mask(image), flatness


def real_scans():
    """(name, image, head mask, flatness(corrected image)) per real scan: head non-uniformity."""
    for name in REAL_SCANS:
        image = sitk.Cast(sitk.ReadImage(str(REAL / name)), sitk.sitkFloat32)
        head = bias.head_mask(image)
        size = "x".join(map(str, image.GetSize()))
        spacing = "x".join(f"{s:.2g}" for s in image.GetSpacing())
        yield (
            f"{name} (real, {size} at {spacing} mm; uncorrected {bias.nonuniformity(image, head):.4f})",
            image,
            head,
            lambda corrected, head=head: f"head non-unif. {bias.nonuniformity(corrected, head):.4f}",
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", nargs="+", default=["P001", "P002", "P003"], help="generated patients")
    parser.add_argument("--shape", type=int, nargs=3, default=[256, 256, 160], help="voxels (x y z), 1 mm")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-real", action="store_true", help=f"leave out the real scans of {REAL}")
    parser.add_argument("--skip-sitk-defaults", action="store_true", help="full-resolution SimpleITK is slow")
    args = parser.parse_args()

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text(encoding="utf-8"))
    ours = config["preprocess"]["n4"]
    print(f"{device_name(torch.device('cpu'))}, {args.threads} threads; ours: {ours}")
    import ants  # noqa: F401  antspyx's import (about 1 s) must not land in the first antspyx timing

    volumes = generated(args.patients, args.shape, config)  # one volume in memory at a time
    if not args.no_real and REAL.exists():
        volumes = itertools.chain(volumes, real_scans())
    for label, image, head, flatness in volumes:
        rows = []
        for name, fit in setups(ours, args.threads, not args.skip_sitk_defaults):
            start = time.perf_counter()
            field = fit(image, head)
            rows.append((name, time.perf_counter() - start, flatness(image / field)))
        reference = next(seconds for name, seconds, _ in rows if name == "antspyx, defaults")
        print(f"\n{label}")
        for name, seconds, flat in rows:
            print(f"  {name:29} {seconds:6.1f} s  {reference / seconds:5.1f}x  {flat}", flush=True)


if __name__ == "__main__":
    main()
