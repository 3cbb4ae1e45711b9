"""Rigid registration of a further sequence onto the T1c: how far off, and how fast.

A real FLAIR and T2 (met1 of ../shared/data/real: BraTS-preprocessed, co-registered with its
T1c on one 1-mm grid) are moved by known rigid transforms and registered back onto the T1c
by our SimpleITK recipe (egfrmet.preprocessing.registration, config preprocess.registration)
and by antspyx's `Rigid` (ANTs' own defaults). Mean displacement over the brain (mm):

- `vs file`: from the file's own co-registration (the truth the data ships with);
- `vs unmoved`: from where the same method puts the unmoved sequence, i.e. how well the
  known move alone is recovered (what is left is the method's reading of the pair, which
  does not depend on the move).

    python benchmarks/registration.py [--real ../shared/data/real]
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from egfrmet.config.settings import read_config
from egfrmet.preprocessing.registration import displacement_mm, rigid

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real"
MOVES = [(0, 0), (3, 3), (6, 5), (10, 8)]  # degrees (about x; half and a third of it about y, z), mm


def known_move(image, degrees, mm):
    truth = sitk.Euler3DTransform()
    truth.SetCenter(image.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in image.GetSize()]))
    truth.SetRotation(*np.deg2rad([degrees, -degrees / 2, degrees / 3]))
    truth.SetTranslation((mm, -mm / 2, mm / 3))
    return sitk.Resample(image, image, truth.GetInverse(), sitk.sitkLinear, 0.0), truth


def ours(fixed, moving, folder):
    settings = read_config([ROOT / "config" / "config.yaml"])["preprocess"]["registration"]
    transform = rigid(fixed, moving, **settings)
    return transform.TransformPoint


def with_ants(fixed, moving, folder):
    import ants

    paths = [str(folder / f"{name}.nii.gz") for name in ("fixed", "moving")]
    for image, path in zip((fixed, moving), paths):
        sitk.WriteImage(image, path)
    result = ants.registration(ants.image_read(paths[0]), ants.image_read(paths[1]), type_of_transform="Rigid")
    transform = ants.read_transform(result["fwdtransforms"][0])  # fixed points to moving points, as ITK's
    return transform.apply_to_point


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, default=REAL)
    args = parser.parse_args()
    fixed = sitk.Cast(sitk.ReadImage(str(args.real / "met1_t1c.nii.gz")), sitk.sitkFloat32)
    brain = np.argwhere(sitk.GetArrayFromImage(fixed) > 0)[::500][:, ::-1].astype(float)
    points = [fixed.TransformContinuousIndexToPhysicalPoint(list(p)) for p in brain]
    print("| sequence | move (deg, mm) | method | vs file (mm) | vs unmoved (mm) | seconds |")
    print("|---|---|---|---|---|---|")
    for sequence in ("flair", "t2"):
        moving = sitk.Cast(sitk.ReadImage(str(args.real / f"met1_{sequence}.nii.gz")), sitk.sitkFloat32)
        for name, method in (("SimpleITK (ours)", ours), ("antspyx Rigid", with_ants)):
            unmoved = None
            for degrees, mm in MOVES:
                image, truth = known_move(moving, degrees, mm)
                with tempfile.TemporaryDirectory() as folder:
                    start = time.perf_counter()
                    found = method(fixed, image, Path(folder))
                    seconds = time.perf_counter() - start
                unmoved = unmoved or found
                file = displacement_mm(found, truth, points)

                def expected(point, truth=truth, unmoved=unmoved):  # the unmoved answer, then the move
                    return truth.TransformPoint(unmoved(point))

                vs_unmoved = displacement_mm(found, expected, points)
                print(
                    f"| {sequence} | {degrees}, {mm} | {name} | {file:.2f} | {vs_unmoved:.2f} | {seconds:.1f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
