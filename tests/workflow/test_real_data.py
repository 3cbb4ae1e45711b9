"""The preprocessing workflow on real clinical scans (the folder EGFRMET_REAL_DATA names, see conftest.REAL):
two glioblastomas with 6.5 mm slices, a raw scan with skull and a reference brain mask, and a
real brain metastasis."""

import json

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from conftest import run_snakemake
from egfrmet.preprocessing.bias import nonuniformity
from egfrmet.preprocessing.masks import head_mask

EXPECTED_SLICES = {"brain1": [12, 13, 14, 15, 16], "brain2": [7, 8, 9, 10, 11]}


def dice(a, b):
    return 2 * (a & b).sum() / (a.sum() + b.sum())


def skull1_lesion(real_data, path):
    """skull1 has no lesion mask: a 5 x 5 x 1-voxel square in the middle of its reference brain."""
    reference = sitk.ReadImage(str(real_data / "skull1_brainmask.nii.gz"))
    brain = sitk.GetArrayFromImage(reference) > 0
    z, y, x = (int(round(c)) for c in np.argwhere(brain).mean(axis=0))
    lesion = np.zeros(brain.shape, dtype=np.uint8)
    lesion[z, y - 2 : y + 3, x - 2 : x + 3] = 1
    image = sitk.GetImageFromArray(lesion)
    image.CopyInformation(reference)
    sitk.WriteImage(image, str(path))


@pytest.fixture(scope="module")
def workflow_on_real_scans(real_data, tmp_path_factory):
    """brain1, brain2 and skull1 with the default config (brain masks computed by deepbet)."""
    workdir = tmp_path_factory.mktemp("real")
    skull1_lesion(real_data, workdir / "skull1_lesion.nii.gz")
    rows = [f"{name}\t{real_data}/{name}_image.nrrd\t{real_data}/{name}_label.nrrd" for name in EXPECTED_SLICES]
    rows.append(f"skull1\t{real_data}/skull1_t1c.nii.gz\tskull1_lesion.nii.gz")
    (workdir / "samples.tsv").write_text("patient_id\timage\tmask\n" + "\n".join(rows) + "\n", encoding="utf-8")
    run_snakemake(workdir, "--cores", "2", "--config", "samples=samples.tsv")
    return workdir


@pytest.fixture(scope="module")
def workflow_on_the_metastasis(real_data, tmp_path_factory):
    """met1: the metastasis is label 2 of its mask (1 is the oedema around it), with its FLAIR
    and T2 (on the T1c's grid) as further sequences."""
    workdir = tmp_path_factory.mktemp("met")
    row = f"met1\t{real_data}/met1_t1c.nii.gz\t{real_data}/met1_seg.nii.gz"
    row += f"\t{real_data}/met1_flair.nii.gz\t{real_data}/met1_t2.nii.gz"
    (workdir / "samples.tsv").write_text("patient_id\timage\tmask\tflair\tt2\n" + row + "\n", encoding="utf-8")
    options = ["samples=samples.tsv", "preprocess={mask_labels: [2]}", "inputs={sequences: [flair, t2]}"]
    run_snakemake(workdir, "--cores", "2", "--config", *options)
    return workdir


def met1_features(workdir, settings, out, sequences=()):
    """The features job's row for met1 from the workflow's own normalised images and crops."""
    from egfrmet.baselines import features

    normalised = workdir / "results" / "normalised"
    features.run(
        "met1",
        image=str(normalised / "met1.nii.gz"),
        lesion=str(normalised / "met1_lesion.nii.gz"),
        crops=str(workdir / "results" / "crops" / "met1.npz"),
        settings=settings | ({"sequences": [name for name, _ in sequences]} if sequences else {}),
        out=str(out),
        sequence_files=[path for _, path in sequences],
    )
    return pd.read_csv(out).iloc[0]


def normalised_summary(workdir, name):
    return json.loads((workdir / "results" / "normalised" / f"{name}.json").read_text(encoding="utf-8"))


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
def test_n4_lowers_low_frequency_nonuniformity_in_the_head(workflow_on_real_scans, real_data, name):
    """Measured in the head, where N4 fits (and as the bias log reports it). Inside deepbet's
    brain mask the brightest class of a post-contrast T1 is mostly vessels and dura, and this
    measure does not fall there (docs/benchmarks/n4.md)."""
    raw = sitk.ReadImage(str(real_data / f"{name}_image.nrrd"))
    corrected = sitk.ReadImage(str(workflow_on_real_scans / "results" / "bias" / f"{name}.nii.gz"))
    head = head_mask(raw)
    before, after = nonuniformity(raw, head), nonuniformity(corrected, head)
    assert after < 0.8 * before, (before, after)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED_SLICES))
def test_thick_slice_scans_get_deepbet_masks_that_cover_their_lesions(workflow_on_real_scans, name):
    """brain2's lesion reaches the cortex's edge: deepbet leaves a quarter of it out, and the
    computed mask gets it added."""
    summary = normalised_summary(workflow_on_real_scans, name)
    assert (summary["brain_mask"], summary["brain_mask_method"]) == ("computed", "deepbet")
    assert summary["lesion_coverage"] == 1.0 and summary["warnings"] == []
    assert summary["lesion_coverage_by_method"] > {"brain1": 0.99, "brain2": 0.6}[name]
    brain = sitk.GetArrayFromImage(
        sitk.ReadImage(str(workflow_on_real_scans / "results" / "normalised" / f"{name}_brain.nii.gz"))
    )
    assert 1.2e6 < brain.sum() * 0.78 * 0.78 * 6.5 < 1.9e6  # mm^3: a brain, not a head


@pytest.mark.slow
def test_skull1_deepbet_brain_mask_matches_the_reference(workflow_on_real_scans, real_data):
    """A raw scan with skull and scalp: deepbet's mask through the workflow, Dice >= 0.95
    against the reference mask (the morphological fallback scores 0.83 here)."""
    used = sitk.ReadImage(str(workflow_on_real_scans / "results" / "normalised" / "skull1_brain.nii.gz"))
    reference = sitk.ReadImage(str(real_data / "skull1_brainmask.nii.gz"))
    assert used.GetSize() == reference.GetSize()
    assert np.allclose(used.GetDirection(), reference.GetDirection(), atol=1e-6)
    score = dice(sitk.GetArrayFromImage(used) > 0, sitk.GetArrayFromImage(reference) > 0)
    assert score >= 0.95, score
    assert normalised_summary(workflow_on_real_scans, "skull1")["brain_mask_method"] == "deepbet"


@pytest.mark.slow
def test_real_metastasis_crops_are_centred_in_the_lesion(workflow_on_the_metastasis, real_data):
    crops = np.load(workflow_on_the_metastasis / "results" / "crops" / "met1.npz")
    # the metastasis spans array slices 52-102 of the file (RAS): its middle is slice 77
    assert crops["source_slice_index"].tolist() == [75, 76, 77, 78, 79]
    assert crops["lesions_taken"].tolist() == [1]
    assert all(m.any() for m in crops["masks"])
    rows, cols = np.nonzero(crops["masks"][2])
    centre = np.array([rows.mean(), cols.mean()])
    assert np.abs(centre - 47.5).max() < 10, centre  # the lesion sits in the middle of the crop
    summary = normalised_summary(workflow_on_the_metastasis, "met1")
    assert summary["lesion_coverage"] == 1.0 and summary["brain_mask_method"] == "deepbet"
    assert summary["lesion_coverage_by_method"] > 0.9  # deepbet itself holds nearly all of it


@pytest.mark.slow
@pytest.mark.parametrize("region", ["lesion", "slices"])
def test_radiomics_features_of_the_real_metastasis_are_finite(workflow_on_the_metastasis, config, region, tmp_path):
    """The baselines' features from the workflow's own normalised image and crops of met1
    (mask_labels [2]): every PyRadiomics feature finite, the volume the lesion's."""
    settings = {**config["baselines"], "radiomics": config["baselines"]["radiomics"] | {"region": region}}
    row = met1_features(workflow_on_the_metastasis, settings, tmp_path / "met1.csv")
    values = row.drop("patient_id").astype(float)
    assert len(values) > 100 and np.isfinite(values).all()
    volume = normalised_summary(workflow_on_the_metastasis, "met1")["lesion_volumes_mm3"][0]
    assert row.volume_mm3 == pytest.approx(volume)
    shape_volume = row.original_shape_VoxelVolume
    assert (shape_volume == pytest.approx(volume, rel=0.05)) == (region == "lesion")  # slices: 5 of 51


@pytest.mark.slow
def test_the_metastasis_crops_hold_its_flair_and_t2_as_channels_with_bright_oedema(
    workflow_on_the_metastasis, real_data
):
    """FLAIR and T2 take the T1c's boxes: one channel each after it; z-scored over the T1c's
    brain mask, the oedema (label 1 of the mask) is brighter than the rest of the brain on
    both, and darker on the T1c."""
    from egfrmet.io.files import crop_files, read_crops

    results = workflow_on_the_metastasis / "results"
    with np.load(results / "crops" / "met1.npz") as crops:
        assert crops["slices"].shape == (5, 96, 96) and crops["sequences"].shape == (5, 2, 96, 96)
        assert list(crops["sequence_names"]) == ["flair", "t2"] and np.isfinite(crops["sequences"]).all()
        slices, sequences = crops["slices"], crops["sequences"]
    channels = read_crops(crop_files([results / "crops" / "met1.npz"]), "met1")
    assert channels.shape == (5, 3, 96, 96) and np.array_equal(channels[:, 0], slices)
    assert not np.allclose(sequences[:, 0], sequences[:, 1]) and not np.allclose(sequences[:, 1], slices)
    seg = sitk.GetArrayFromImage(sitk.DICOMOrient(sitk.ReadImage(str(real_data / "met1_seg.nii.gz")), "LPS"))
    brain = (
        sitk.GetArrayFromImage(
            sitk.DICOMOrient(sitk.ReadImage(str(results / "normalised" / "met1_brain.nii.gz")), "LPS")
        )
        > 0
    )
    contrast = {}  # median z-score of the oedema above that of the brain outside the lesion
    for name, path in (("t1c", "met1.nii.gz"), ("flair", "flair/met1.nii.gz"), ("t2", "t2/met1.nii.gz")):
        values = sitk.GetArrayFromImage(sitk.ReadImage(str(results / "normalised" / path)))
        assert values.shape == seg.shape
        contrast[name] = float(np.median(values[seg == 1]) - np.median(values[brain & (seg == 0)]))
    assert contrast["flair"] > 0.25 and contrast["t2"] > 0.25 and contrast["t1c"] < 0, contrast


@pytest.mark.slow
def test_radiomics_of_each_sequence_are_prefixed_by_its_column(workflow_on_the_metastasis, config, tmp_path):
    normalised = workflow_on_the_metastasis / "results" / "normalised"
    sequences = [("flair", str(normalised / "flair" / "met1.nii.gz")), ("t2", str(normalised / "t2" / "met1.nii.gz"))]
    row = met1_features(workflow_on_the_metastasis, config["baselines"], tmp_path / "met1.csv", sequences)
    t1c = [c for c in row.index if c.startswith("original_")]
    for name in ("flair", "t2"):
        own = [c for c in row.index if c.startswith(f"{name}_original_")]
        assert len(own) == len([c for c in t1c if "_shape_" not in c])  # the shape class once, the T1c's
        assert np.isfinite(row[own].astype(float)).all()
        assert row[f"{name}_original_firstorder_Mean"] != row["original_firstorder_Mean"]


def test_a_sequence_off_the_t1c_grid_is_refused_and_resampled_by_header_geometry(real_data, config, tmp_path):
    """skull1's raw T2 and FLAIR lie on other grids than its T1c (other size, origin and
    direction): refused naming the column, or resampled onto the T1c's grid when allowed."""
    from egfrmet.errors import InputError
    from egfrmet.io import images
    from egfrmet.io.images import read_header
    from egfrmet.preprocessing import sequences
    from egfrmet.preprocessing.check import check_headers

    paths = {"image": str(real_data / "skull1_t1c.nii.gz"), "t2": str(real_data / "skull1_t2.nii.gz")}
    with pytest.raises(InputError) as error:
        check_headers("skull1", paths, grid_tolerance=1e-3, sequences=["t2"])
    assert all(w in str(error.value) for w in ("patient skull1", "column t2", "inputs.resample: true"))
    check_headers("skull1", paths, grid_tolerance=1e-3, sequences=["t2"], resample=True)
    t1c, t2 = read_header(paths["image"]), read_header(paths["t2"])
    assert 0.5 < images.overlap(t1c, t2) <= 1.0
    far = t2 | {"origin": tuple(np.add(t2["origin"], 1000.0))}
    assert "does not overlap" in images.grid_problem(t1c, far, resample=True, tolerance=1e-3)

    def bias_of_t2(out, resample):
        sequences.run_bias(
            "skull1",
            sequence="t2",
            image=paths["t2"],
            reference=paths["image"],
            resample=resample,
            grid_tolerance=1e-3,
            settings=config["preprocess"]["n4"],
            threads=2,
            out=str(out),
        )

    bias_of_t2(tmp_path / "t2.nii.gz", resample=True)
    resampled, reference = sitk.ReadImage(str(tmp_path / "t2.nii.gz")), sitk.ReadImage(paths["image"])
    assert resampled.GetSize() == reference.GetSize() and np.allclose(resampled.GetOrigin(), reference.GetOrigin())
    brain = sitk.GetArrayFromImage(sitk.ReadImage(str(real_data / "skull1_brainmask.nii.gz"))) > 0
    values = sitk.GetArrayFromImage(resampled)
    assert np.isfinite(values).all() and values[brain].mean() > 2 * values[~brain].mean()
    with pytest.raises(InputError, match="column t2"):
        bias_of_t2(tmp_path / "refused.nii.gz", resample=False)
    assert not (tmp_path / "refused.nii.gz").exists()


def test_the_workflow_refuses_an_off_grid_sequence_when_it_is_read_unless_resampling_is_allowed(real_data, tmp_path):
    """skull1's T2 on another grid stops `snakemake -n` before any job, naming patient,
    column and file; with inputs.resample: true the plan resamples it in its own N4 job."""
    skull1_lesion(real_data, tmp_path / "lesion.nii.gz")
    header = "patient_id\timage\tmask\tt2\n"
    row = f"skull1\t{real_data}/skull1_t1c.nii.gz\tlesion.nii.gz\t{real_data}/skull1_t2.nii.gz\n"
    (tmp_path / "samples.tsv").write_text(header + row, encoding="utf-8")
    options = ["--dry-run", "--config", "samples=samples.tsv"]
    refused = run_snakemake(tmp_path, *options, "inputs={sequences: [t2], resample: false}", check=False)
    message = refused.stdout + refused.stderr
    assert refused.returncode != 0 and all(w in message for w in ("patient skull1", "column t2", "skull1_t2.nii.gz"))
    assert "inputs.resample: true" in message and not (tmp_path / "results").exists()
    planned = run_snakemake(tmp_path, *options, "inputs={sequences: [t2], resample: true}")
    assert "rule bias_sequence:" in planned.stdout and "sequence=t2, patient=skull1" in planned.stdout
