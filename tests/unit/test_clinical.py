"""Clinical variables: declared sheet columns, their files, and the clinical baseline fitted
inside each fold's training patients only."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.impute import SimpleImputer
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline
from test_baselines import cohort as baselines_cohort

from egfrmet.baselines import clinical
from egfrmet.baselines import methods as baselines
from egfrmet.config import settings
from egfrmet.config.schema import load_schema
from egfrmet.config.sheet import read_sheet
from egfrmet.demo import synth
from egfrmet.errors import InputError

SCHEMA = load_schema("samples")
KINDS = {"sex": "categorical", "age": "numeric", "smoking": "binary"}
SETTINGS = {"methods": ["clinical"], "clinical": {"c_values": [0.01, 0.1, 1.0], "inner_k": 3}, "seed": 0}


def cohort(n=40, seed=0):
    """Folds (2 folds, 2 repeats) and clinical values: sex carries the label; every age is
    unique, so a row's age tells whose it is; some cells are empty."""
    rng = np.random.default_rng(seed)
    labels = np.array([1, 0, 0, 1] * (n // 4))
    ids = [f"P{i:03d}" for i in range(n)]
    women = np.where(rng.random(n) < np.where(labels == 1, 0.85, 0.2), "F", "M")
    ages = 40 + np.arange(n) + rng.random(n)
    values = pd.DataFrame(
        {
            "sex": women,
            "age": [f"{a:.3f}" if i % 9 else "" for i, a in enumerate(ages)],
            "smoking": [("" if i % 11 == 3 else rng.choice(["yes", "no"])) for i in range(n)],
        },
        index=pd.Index(ids, name="patient_id"),
    )
    _, folds = baselines_cohort(n)  # the same patients, labels and folds as the image baselines' test
    return clinical.typed(values, KINDS), folds


def scores_of(values, folds, folds_to_score=range(4)):
    return pd.concat(
        baselines.fold_scores(None, folds, fold, ["clinical"], SETTINGS, values, KINDS) for fold in folds_to_score
    )


def test_the_clinical_baseline_scores_every_patient_once_per_repeat_and_learns_the_signal():
    values, folds = cohort()
    scores = scores_of(values, folds)
    for repeat in (0, 1):
        assert sorted(scores.patient_id[scores.repeat == repeat]) == sorted(values.index)
    assert scores.probability.between(0, 1).all() and (scores.selection == "clinical").all()
    assert roc_auc_score(scores.label, scores.probability) > 0.75


def test_imputation_and_every_fit_see_training_patients_only(monkeypatch):
    """Instrumented: each matrix any pipeline or imputer is fitted on holds training
    patients' rows only (their unique ages), and the median imputed is theirs."""
    values, folds = cohort()
    fitted, imputed = [], []
    pipeline_fit, imputer_fit = Pipeline.fit, SimpleImputer.fit

    def recording_pipeline_fit(self, X, y=None, **params):
        fitted.append(X)
        return pipeline_fit(self, X, y, **params)

    def recording_imputer_fit(self, X, y=None):
        imputed.append(np.asarray(X))
        return imputer_fit(self, X, y)

    monkeypatch.setattr(Pipeline, "fit", recording_pipeline_fit)
    monkeypatch.setattr(SimpleImputer, "fit", recording_imputer_fit)
    ages = values.age.dropna()
    for fold in range(4):
        fitted.clear(), imputed.clear()
        baselines.fold_scores(None, folds, fold, ["clinical"], SETTINGS, values, KINDS)
        table = folds[folds.repeat == fold // 2]
        training = set(table.patient_id[table.fold != fold])
        assert fitted and imputed
        for X in fitted:
            assert set(X.index) == training
        numeric = [m for m in imputed if m.dtype.kind == "f"]
        assert numeric and all(
            set(m[:, 0][~np.isnan(m[:, 0])]) <= set(ages[list(training & set(ages.index))]) for m in numeric
        )


def test_a_missing_age_takes_the_training_median_and_an_indicator():
    values, folds = cohort()
    table = folds[folds.repeat == 0]
    training = table.patient_id[table.fold != 0]
    model = baselines.fit("clinical", values.loc[training], table.label[table.fold != 0].to_numpy(), SETTINGS, KINDS)
    imputer = model[0].named_transformers_["numeric"][0]
    assert imputer.statistics_[0] == pytest.approx(values.age.loc[training].median())
    assert imputer.indicator_ is not None  # the fold's training patients had missing ages


def test_a_level_seen_only_in_validation_scores_as_none_of_the_known_levels():
    values, folds = cohort()
    values = values.copy()
    validation = folds.patient_id[(folds.repeat == 0) & (folds.fold == 0)]
    values.loc[validation.iloc[0], "sex"] = "X"  # unseen by every fit of fold 0
    scores = scores_of(values, folds, [0])
    assert np.isfinite(scores.probability).all() and len(scores) == len(validation)


def test_the_patient_files_carry_values_and_kinds(tmp_path):
    paths = []
    for pid, cells in (
        ("A", {"sex": "F", "age": "61", "smoking": "yes"}),
        ("B", {"sex": "", "age": "", "smoking": "no"}),
    ):
        paths.append(tmp_path / f"{pid}.json")
        clinical.write(pid, values=cells, kinds=KINDS, out=paths[-1])
    table, kinds = clinical.read(paths)
    assert kinds == KINDS and list(table.index) == ["A", "B"]
    assert table.loc["A", "age"] == 61.0 and np.isnan(table.loc["B", "age"]) and pd.isna(table.loc["B", "sex"])
    record = json.loads(paths[0].read_text(encoding="utf-8"))
    record["kinds"] = {"sex": "categorical"}
    paths[0].write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(InputError, match="clinical kinds"):
        clinical.read(paths)


def sheet(tmp_path, header, *rows):
    path = tmp_path / "sheet.tsv"
    path.write_text("\n".join(["\t".join(header), *("\t".join(r) for r in rows)]) + "\n", encoding="utf-8")
    return path


def test_declared_clinical_columns_are_kept_and_an_undeclared_one_is_refused_saying_how(tmp_path):
    path = sheet(
        tmp_path,
        ["patient_id", "image", "mask", "sex", "age"],
        ["A01", "a", "b", "F", "63"],
        ["A02", "c", "d", "M", ""],
    )
    table = read_sheet(path, SCHEMA, clinical={"sex": "categorical", "age": "numeric"})
    assert table.loc["A01", "sex"] == "F" and table.loc["A02", "age"] == ""
    with pytest.raises(InputError) as error:
        read_sheet(path, SCHEMA, clinical={"sex": "categorical"})
    assert "unknown column(s) age" in str(error.value) and "clinical: {age: categorical}" in str(error.value)
    assert str(path) in str(error.value)


def test_a_declared_column_missing_from_the_sheet_is_refused_naming_it(tmp_path):
    path = sheet(tmp_path, ["patient_id", "image", "mask", "sex"], ["A01", "a", "b", "F"])
    with pytest.raises(InputError, match=r"missing required column\(s\) smoking \(named in the config: smoking\)"):
        read_sheet(path, SCHEMA, clinical={"sex": "categorical", "smoking": "categorical"})


def test_a_numeric_cell_that_is_no_number_and_a_binary_column_of_three_values_are_refused(tmp_path):
    path = sheet(tmp_path, ["patient_id", "image", "mask", "age"], ["A01", "a", "b", "63"], ["A02", "c", "d", "sixty"])
    with pytest.raises(InputError) as error:
        read_sheet(path, SCHEMA, clinical={"age": "numeric"})
    assert all(w in str(error.value) for w in ("patient A02", "column age", "'sixty' is not a number"))
    path = sheet(
        tmp_path,
        ["patient_id", "image", "mask", "smoking"],
        ["A1", "a", "b", "never"],
        ["A2", "a", "b", "former"],
        ["A3", "a", "b", "current"],
    )
    with pytest.raises(InputError, match="binary but holds 3 values"):
        read_sheet(path, SCHEMA, clinical={"smoking": "binary"})
    assert read_sheet(path, SCHEMA, clinical={"smoking": "categorical"}).smoking.tolist() == [
        "never",
        "former",
        "current",
    ]


def test_config_refuses_the_clinical_baseline_without_variables_and_names_that_are_the_sheets(config):
    cfg = json.loads(json.dumps(config))
    cfg["baselines"]["methods"] = ["clinical"]
    with pytest.raises(InputError, match="declares no clinical variable"):
        settings.check_config(cfg)
    cfg["clinical"] = {"center": "categorical"}
    with pytest.raises(InputError, match="'center' is a column of the sheet itself"):
        settings.check_config(cfg)


def test_a_listed_sequence_column_is_a_path_and_an_empty_cell_is_refused_naming_patient_and_column(tmp_path):
    path = sheet(
        tmp_path, ["patient_id", "image", "mask", "t2"], ["A01", "a", "b", "t2/a.nii.gz"], ["A02", "c", "d", ""]
    )
    with pytest.raises(InputError) as error:
        read_sheet(path, SCHEMA, sequences=["t2"])
    assert all(w in str(error.value) for w in ("patient A02", "column t2", "empty cell"))
    path.write_text(path.read_text(encoding="utf-8").replace("\td\t", "\td\tt2/c.nii.gz"), encoding="utf-8")
    assert read_sheet(path, SCHEMA, sequences=["t2"]).loc["A01", "t2"] == str(tmp_path / "t2" / "a.nii.gz")


def test_the_demo_generator_makes_women_and_never_smokers_more_frequent_among_mutants(config):
    options = config["synth"]["sheet"] | {"n_patients": 600, "n_positive": 300, "n_test": 0, "n_test_positive": 0}
    generated = synth.make_sheet(**options)
    by_label = generated.groupby("label")
    women = by_label.sex.apply(lambda s: (s == "F").mean())
    never = by_label.smoking.apply(lambda s: (s == "never").mean())
    assert women[1] - women[0] > 0.2 and never[1] - never[0] > 0.2
    ages = generated.age[generated.age != ""].astype(float)
    assert abs(ages[generated.label == 1].mean() - ages[generated.label == 0].mean()) < 2.5  # unrelated to the label
    assert 0 < (generated.smoking == "").mean() < 0.15
    # the clinical columns come from their own generator: the rest of the sheet is unchanged
    plain = synth.make_sheet(**(config["synth"]["sheet"] | {"clinical": None}))
    with_clinical = synth.make_sheet(**config["synth"]["sheet"])
    pd.testing.assert_frame_equal(plain, with_clinical[plain.columns])
