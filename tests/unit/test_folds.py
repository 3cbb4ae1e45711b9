import pandas as pd
import pytest

from egfrmet.cohort import folds
from egfrmet.errors import InputError


def cohort(n=40, positives=12, centers=("A", "B"), start=0):
    rows = []
    for i in range(start, start + n):
        rows.append(
            {
                "patient_id": f"P{i:03d}",
                "label": int(i % n < positives),
                "center": centers[i % len(centers)],
                "fold": pd.NA,
            }
        )
    table = pd.DataFrame(rows)
    table["fold"] = table.fold.astype("Int64")
    return table


def test_stratified_by_label_and_centre_and_patient_level():
    table = folds.assign(cohort(), k=5, seed=0)
    assert table.patient_id.is_unique and len(table) == 40
    per_fold = table.groupby("fold").label.agg(["size", "sum"])
    assert per_fold["size"].tolist() == [8] * 5
    assert sorted(per_fold["sum"]) == [2, 2, 2, 3, 3]
    for (label, center), part in table.groupby(["label", "center"]):
        counts = part.fold.value_counts().reindex(range(5), fill_value=0)
        assert counts.max() - counts.min() <= 1, (label, center)


def test_deterministic_and_independent_of_row_order():
    first = folds.assign(cohort(), k=5, seed=3)
    shuffled = folds.assign(cohort().sample(frac=1, random_state=1), k=5, seed=3)
    pd.testing.assert_frame_equal(first, shuffled)
    assert not first.equals(folds.assign(cohort(), k=5, seed=4))


def test_pinned_folds_are_kept_and_new_patients_move_no_pinned_one():
    pinned = folds.assign(cohort(), k=5, seed=0)
    sheet = cohort()
    sheet["fold"] = pd.array(pinned.set_index("patient_id").loc[sheet.patient_id, "fold"], dtype="Int64")
    grown = pd.concat([sheet, cohort(n=10, positives=3, start=40)], ignore_index=True)
    after = folds.assign(grown, k=5, seed=0).set_index("patient_id")
    before = pinned.set_index("patient_id")
    assert (after.loc[before.index, "fold"] == before.fold).all()
    assert len(after) == 50


def test_a_pinned_fold_outside_the_range_names_the_patient():
    sheet = cohort()
    sheet.loc[3, "fold"] = 7
    with pytest.raises(InputError, match="patient P003, column fold: pinned fold 7"):
        folds.assign(sheet, k=5, seed=0)


def test_fold_without_positives_is_an_error_before_training():
    with pytest.raises(InputError, match=r"fold \d of 5 gets no positive .*3 in the cohort; need at least 5"):
        folds.assign(cohort(n=20, positives=3), k=5, seed=0)


def test_pin_writes_the_assignment_into_the_sheet(tmp_path):
    sheet = tmp_path / "samples.tsv"
    lines = ["patient_id\timage\tmask\tlabel\tsplit"]
    lines += [f"P{i:02d}\ti{i}.nii\tm{i}.nii\t{int(i < 4)}\tcv" for i in range(10)] + ["T01\tt.nii\ttm.nii\t\ttest"]
    sheet.write_text("\n".join(lines) + "\n", encoding="utf-8")
    folds.run(samples=str(sheet), k=2, seed=0, out=str(tmp_path / "folds.tsv"), pin=True)
    written = pd.read_csv(sheet, sep="\t", dtype=str, keep_default_na=False)
    assert list(written.columns) == ["patient_id", "image", "mask", "label", "split", "fold"]
    assert set(written.fold[:10]) == {"0", "1"} and written.fold[10] == ""
    table = pd.read_csv(tmp_path / "folds.tsv", sep="\t", dtype={"patient_id": str})
    assert dict(zip(table.patient_id, table.fold.astype(str))) == dict(zip(written.patient_id[:10], written.fold[:10]))
    # pinned now: a second assignment with another seed keeps them
    folds.run(samples=str(sheet), k=2, seed=99, out=str(tmp_path / "again.tsv"), pin=False)
    assert pd.read_csv(tmp_path / "again.tsv", sep="\t").equals(table)


@pytest.mark.slow
def test_egfrmet_folds_works_from_a_non_editable_install(tmp_path):
    """The sheet schema is package data: an installed egfrmet (no checkout beside it) reads it."""
    import shutil
    import subprocess
    import sys

    from conftest import REPO

    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    pip = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        "--target",
        str(tmp_path / "site"),
    ]
    subprocess.run([*pip, str(source)], check=True, capture_output=True, timeout=300)
    shutil.rmtree(source)  # nothing of a checkout is left
    rows = ["patient_id\timage\tmask\tlabel"] + [f"P{i}\ta.nii.gz\tm.nii.gz\t{i % 2}" for i in range(6)]
    (tmp_path / "samples.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path / "site")}
    command = [
        sys.executable,
        "-m",
        "egfrmet",
        "folds",
        "--samples",
        "samples.tsv",
        "--k",
        "2",
        "--seed",
        "0",
        "--out",
        "folds.tsv",
    ]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, encoding="utf-8", timeout=120)
    assert result.returncode == 0, result.stderr
    assert (
        "site"
        in subprocess.run(
            [sys.executable, "-c", "import egfrmet; print(egfrmet.__file__)"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            encoding="utf-8",
        ).stdout
    )
    assert len((tmp_path / "folds.tsv").read_text(encoding="utf-8").splitlines()) == 7


def test_leave_centre_out_holds_out_each_centre_once_and_never_splits_one():
    table = folds.by_centre(cohort(n=30, positives=12, centers=("C", "A", "B")))
    assert table.groupby("center").fold.nunique().eq(1).all()  # a centre is never on both sides
    assert dict(zip(table.center, table.fold)) == {"A": 0, "B": 1, "C": 2}  # sorted by name
    for fold in range(3):
        held_out, rest = table[table.fold == fold], table[table.fold != fold]
        assert set(held_out.label) == set(rest.label) == {0, 1}


@pytest.mark.parametrize(
    "labels, words",
    [
        ({"A": [0, 1, 0], "B": [0, 0]}, "centre 'B' has no positive"),
        ({"A": [1, 1], "B": [0, 1, 0]}, "centre 'A' has no negative"),
    ],
)
def test_leave_centre_out_refuses_a_centre_without_both_classes_naming_it(labels, words):
    rows = [
        {"patient_id": f"{centre}{i}", "label": label, "center": centre, "fold": pd.NA}
        for centre, values in labels.items()
        for i, label in enumerate(values)
    ]
    with pytest.raises(InputError, match=words):
        folds.by_centre(pd.DataFrame(rows))


def test_leave_centre_out_needs_two_centres():
    with pytest.raises(InputError, match="at least 2 centres"):
        folds.by_centre(cohort(centers=("A",)))


def test_repeats_are_independent_assignments_numbered_on_with_pins_in_the_first():
    patients = cohort()
    patients.loc[0, "fold"] = 4  # pinned
    table = folds.repeated(patients, k=5, seed=0, repeats=2)
    first, second = table[table.repeat == 0], table[table.repeat == 1]
    assert sorted(first.fold.unique()) == [0, 1, 2, 3, 4] and sorted(second.fold.unique()) == [5, 6, 7, 8, 9]
    assert set(first.patient_id) == set(second.patient_id) == set(patients.patient_id)
    assert first.set_index("patient_id").fold[patients.patient_id[0]] == 4
    pairs = first.merge(second, on="patient_id")
    assert (pairs.fold_x + 5 != pairs.fold_y).any()  # not the same assignment twice
    pd.testing.assert_frame_equal(
        first.drop(columns="repeat"), folds.assign(patients, k=5, seed=0)
    )  # the first repeat is the plain one
    assert set(folds.of_repeat(table, 7).patient_id) == set(patients.patient_id)
    assert (folds.of_repeat(table, 7).repeat == 1).all()
