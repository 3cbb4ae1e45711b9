"""The preprocessing workflow on two real clinical scans (../shared/data/real)."""

import numpy as np
import pytest
import SimpleITK as sitk

from conftest import run_snakemake
from egfrmet.bias import nonuniformity

EXPECTED_SLICES = {"brain1": [12, 13, 14, 15, 16], "brain2": [7, 8, 9, 10, 11]}


@pytest.fixture(scope="module")
def workflow_on_real_scans(real_data, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("real")
    rows = [f"{name}\t{real_data}/{name}_image.nrrd\t{real_data}/{name}_label.nrrd" for name in EXPECTED_SLICES]
    (workdir / "samples.tsv").write_text("patient_id\timage\tmask\n" + "\n".join(rows) + "\n", encoding="utf-8")
    run_snakemake(workdir, "--cores", "2", "--config", "samples=samples.tsv")
    return workdir


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED_SLICES))
def test_chosen_slices_and_centre_slice_holds_lesion(workflow_on_real_scans, name):
    crops = np.load(workflow_on_real_scans / "results" / "crops" / f"{name}.npz")
    assert crops["source_slice_index"].tolist() == EXPECTED_SLICES[name]
    assert crops["slices"].shape == (5, 96, 96)
    assert np.isfinite(crops["slices"]).all()
    assert crops["masks"][2].any() and crops["lesion_area"][2] > 0
    assert (workflow_on_real_scans / "results" / "qc" / f"{name}.png").stat().st_size > 0


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED_SLICES))
def test_n4_lowers_low_frequency_nonuniformity_in_the_brain(workflow_on_real_scans, real_data, name):
    raw = sitk.ReadImage(str(real_data / f"{name}_image.nrrd"))
    corrected = sitk.ReadImage(str(workflow_on_real_scans / "results" / "bias" / f"{name}.nii.gz"))
    brain = sitk.GetArrayFromImage(sitk.ReadImage(str(workflow_on_real_scans / "results" / "normalised" / f"{name}_brain.nii.gz"))) > 0
    before, after = nonuniformity(raw, brain), nonuniformity(corrected, brain)
    assert after < 0.8 * before, (before, after)


@pytest.mark.slow
def test_real_scans_have_computed_brain_masks_marked_as_such(workflow_on_real_scans):
    import json

    for name in EXPECTED_SLICES:
        summary = json.loads((workflow_on_real_scans / "results" / "normalised" / f"{name}.json").read_text(encoding="utf-8"))
        assert summary["brain_mask"] == "computed"
        assert summary["lesion_coverage"] == 1.0
