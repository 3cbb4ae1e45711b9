import pandas as pd
import pytest

from egfrmet import folds
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
