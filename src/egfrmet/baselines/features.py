"""Per-patient features for the baselines (egfrmet.baselines.methods): PyRadiomics features of the
lesion on the normalised (z-scored) image, the lesion volume, and a high percentile of the
lesion's intensity. The lesions are the ones the crops took (results/crops), so every method
looks at the same lesion of a patient.
"""

import logging

import numpy as np
import pandas as pd
import SimpleITK as sitk

from egfrmet.arguments import PATIENT, SEQUENCE_FILES, SETTINGS, command, required
from egfrmet.errors import InputError
from egfrmet.io.files import atomic_output, paired_sequences
from egfrmet.io.images import read_image

log = logging.getLogger(__name__)


def lesion_region(lesions, crops, region):
    """The voxels (z, y, x bool) the features describe: the crops' lesions whole, or with
    region `slices` only their crop slices (axial indices of the normalised image)."""
    mask = np.zeros(lesions.shape, dtype=bool)
    for lesion in crops["lesions_taken"]:
        whole = lesions == lesion
        if region == "slices":
            rows = crops["slice_index"][crops["lesion"] == lesion]
            keep = np.zeros(len(whole), dtype=bool)
            keep[[k for k in rows if 0 <= k < len(whole)]] = True
            whole &= keep[:, None, None]
        mask |= whole
    return mask


def radiomics_features(image, mask, settings):
    """PyRadiomics features ("original" image type) of `mask` (z, y, x bool) on `image`."""
    import radiomics
    from radiomics import featureextractor

    # its INFO lines, and a warning on every call that GLCM's Sum Average equals twice its
    # Joint Average, would flood the job log
    radiomics.setVerbosity(logging.ERROR)
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    spacing = settings["resampled_spacing"] or None
    extractor = featureextractor.RadiomicsFeatureExtractor(
        binWidth=settings["bin_width"], resampledPixelSpacing=spacing, interpolator="sitkBSpline", label=1
    )
    extractor.disableAllFeatures()
    for name in settings["feature_classes"]:
        extractor.enableFeatureClassByName(name)
    roi = sitk.GetImageFromArray(mask.astype(np.uint8))
    roi.CopyInformation(image)
    result = extractor.execute(image, roi)
    return {name: float(value) for name, value in result.items() if not name.startswith("diagnostics_")}


def extract(image, lesions, crops, settings, sequences=()):
    """One patient's features: volume_mm3 and intensity of the crops' whole lesions, and the
    radiomics features of the configured region, of the T1c and then of each further
    sequence (`sequences`: (name, image) on the T1c's grid), prefixed by its name. The shape
    class describes the region, the same for every sequence: the T1c's alone has it."""
    whole = lesion_region(lesions, crops, "lesion")
    values = sitk.GetArrayViewFromImage(image)[whole]
    row = {
        "volume_mm3": float(whole.sum() * np.prod(image.GetSpacing())),
        "intensity": float(np.percentile(values, settings["intensity_percentile"])),
    }
    region = settings["radiomics"]["region"]
    voxels = whole if region == "lesion" else lesion_region(lesions, crops, region)
    own = radiomics_features(image, voxels, settings["radiomics"])
    row |= own
    texture = settings["radiomics"] | {
        "feature_classes": [c for c in settings["radiomics"]["feature_classes"] if c != "shape"]
    }
    for name, other in sequences:
        if other is None:  # a sequence the patient lacks: its features missing, imputed when fitted
            row |= {f"{name}_{key}": np.nan for key in own if "_shape_" not in key}
            continue
        row |= {f"{name}_{key}": value for key, value in radiomics_features(other, voxels, texture).items()}
    return row


def patient_features(patient, *, image, lesion, crops, settings, sequences=()):
    """One patient's row of features from the normalise and crop stages' files (`sequences`:
    (name, normalised image path) of each further sequence)."""
    image = read_image(image)
    others = [(name, read_image(path) if path else None) for name, path in sequences]
    lesions = sitk.GetArrayFromImage(read_image(lesion))
    with np.load(crops) as data:
        crops = {key: data[key] for key in ("lesions_taken", "lesion", "slice_index")}
    if not np.isin(crops["lesions_taken"], lesions).all():
        taken = crops["lesions_taken"].tolist()
        raise InputError(f"the crops' lesions {taken} are not all in the lesion mask", patient=patient, path=lesion)
    return {"patient_id": patient} | extract(image, lesions, crops, settings, others)


@command(
    "the baselines' features of one patient: PyRadiomics, lesion volume and intensity",
    PATIENT,
    required("--image", "normalised LPS image"),
    required("--lesion", "LPS numbered lesion mask"),
    required("--crops", "the patient's crops (.npz): which lesions and slices they took"),
    SEQUENCE_FILES,
    SETTINGS,
    required("--out", "features to write (.csv, one row)"),
)
def run(patient, *, image, lesion, crops, settings, out, sequence_files=()):
    """The `egfrmet features` subcommand: one row of features (.csv) for one patient;
    `sequence_files`: the normalised image of each of settings["sequences"]."""
    sequence = paired_sequences(settings, sequence_files)
    if sequence is None:
        raise InputError(f"{len(sequence_files)} sequence files for {settings.get('sequences', [])}", patient=patient)
    row = patient_features(patient, image=image, lesion=lesion, crops=crops, settings=settings, sequences=sequence)
    missing = [name for name, value in row.items() if name != "patient_id" and not np.isfinite(value)]
    if missing:
        log.warning("patient %s: %d features not finite (imputed when fitted): %s", patient, len(missing), missing)
    log.info("patient %s: %d features; volume %.0f mm3", patient, len(row) - 1, row["volume_mm3"])
    with atomic_output(out) as tmp:
        pd.DataFrame([row]).to_csv(tmp, index=False)
