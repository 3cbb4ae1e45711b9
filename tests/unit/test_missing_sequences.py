"""inputs.missing: allow: a patient may lack a further sequence. The sheet refuses an empty
cell by default and takes it when allowed; the crops hold a zero channel and say which
sequences are there; the network's readers add a 0-or-1 channel per sequence, which the
ImageNet input passes as it is."""

import numpy as np
import pytest
import torch

from egfrmet.config.schema import load_schema
from egfrmet.config.sheet import read_sheet
from egfrmet.errors import InputError
from egfrmet.io.files import crop_channels, paired_sequences
from egfrmet.preprocessing.crop import with_missing
from egfrmet.training.model import ImagenetInput

SHEET = "patient_id\timage\tmask\tt2\tflair\nA01\ta\tm\tt2.nii.gz\tf.nii.gz\nA02\tb\tm\t\tf2.nii.gz\n"


def test_an_empty_sequence_cell_is_refused_by_default_and_taken_when_allowed(tmp_path):
    path = tmp_path / "sheet.tsv"
    path.write_text(SHEET, encoding="utf-8")
    with pytest.raises(InputError, match="patient A02, column t2.*unless inputs.missing: allow"):
        read_sheet(path, load_schema("samples"), sequences=["t2", "flair"])
    sheet = read_sheet(path, load_schema("samples"), sequences=["t2", "flair"], allow_missing=True)
    assert sheet.loc["A02", "t2"] == "" and sheet.loc["A02", "flair"].endswith("f2.nii.gz")


def test_the_files_a_stage_gets_pair_with_the_sequences_the_patient_has():
    settings = {"sequences": ["t2", "flair"], "absent": ["t2"]}
    assert paired_sequences(settings, ["f.nii.gz"]) == [("t2", None), ("flair", "f.nii.gz")]
    assert paired_sequences(settings, ["a", "b"]) is None  # one file too many
    assert paired_sequences({"sequences": ["t2"], "absent": ["flair"]}, []) is None  # not a sequence


def test_the_crops_hold_zeros_for_a_missing_sequence_and_the_readers_add_its_flag(tmp_path):
    slices = np.random.default_rng(0).normal(size=(5, 8, 8)).astype(np.float32)
    result = {"slices": slices, "sequences": np.ones((5, 1, 8, 8), np.float32)}
    full = with_missing(result, [False, True])
    assert full.shape == (5, 2, 8, 8) and not full[:, 0].any() and full[:, 1].all()
    masks = np.zeros((5, 8, 8), bool)
    np.savez(tmp_path / "c.npz", slices=slices, sequences=full, masks=masks, sequence_present=np.array([False, True]))
    x = crop_channels(tmp_path / "c.npz", lesion_channel=True)
    # T1c, t2 (zeros), flair, lesion mask, then one flag per sequence: t2 0, flair 1
    assert x.shape == (5, 6, 8, 8) and not x[:, 4].any() and x[:, 5].all()


def test_the_imagenet_input_passes_the_flags_as_they_are():
    x = torch.randn(2, 4, 8, 8)
    x[:, 2:] = torch.tensor([0.0, 1.0]).view(1, 2, 1, 1)
    out = ImagenetInput(4, passthrough=2)(x)
    assert torch.equal(out[:, 2:], x[:, 2:])
    assert torch.allclose(out[:, :2], ImagenetInput(4)(x)[:, :2])  # the pictures as before
