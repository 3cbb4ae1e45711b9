"""Fitted models as plain numbers: every pipeline our methods fit, written to JSON and read
back, gives scikit-learn's probabilities; anything else is refused when written."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA
from sklearn.pipeline import make_pipeline

from egfrmet.baselines import clinical, fusion, plain
from egfrmet.baselines import methods as baselines

SETTINGS = {
    "radiomics": {"c_values": [0.1, 1.0], "inner_k": 3},
    "clinical": {"c_values": [0.1, 1.0], "inner_k": 3},
    "seed": 0,
}
KINDS = {"sex": "categorical", "age": "numeric", "smoking": "binary"}


def cohort(n=60, seed=0):
    """Features with a constant column, an empty column and missing cells; clinical values
    with missing cells; labels that the first feature and sex carry."""
    rng = np.random.default_rng(seed)
    ids = pd.Index([f"P{i:03d}" for i in range(n)], name="patient_id")
    labels = (rng.random(n) < 0.4).astype(int)
    features = pd.DataFrame(
        {
            "original_a": labels + rng.normal(size=n),
            "original_b": rng.normal(size=n),
            "original_constant": 1.0,
            "original_empty": np.nan,
            "t2_original_a": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
            "volume_mm3": np.exp(7 + rng.normal(size=n)),
            "intensity": labels + rng.normal(size=n),
        },
        index=ids,
    )
    cells = pd.DataFrame(
        {
            "sex": np.where(rng.random(n) < np.where(labels, 0.8, 0.3), "F", "M"),
            "age": [f"{a:.2f}" if i % 7 else "" for i, a in enumerate(50 + 10 * rng.random(n))],
            "smoking": [("" if i % 9 == 2 else rng.choice(["yes", "no"])) for i in range(n)],
        },
        index=ids,
    )
    return features, clinical.typed(cells, KINDS), labels


def round_trip(model, inputs):
    text = json.dumps(plain.export(model, inputs), allow_nan=False)  # JSON's types only, no NaN
    return json.loads(text)


@pytest.mark.parametrize("method", ["radiomics", "radiomics_t1c", "volume", "intensity", "clinical"])
def test_every_baseline_gives_scikit_learns_probabilities_from_its_plain_numbers(method):
    features, values, labels = cohort()
    train, new = features.index[:40], features.index[40:]
    X = baselines.matrix(method, features, values, train)
    model = baselines.fit(method, X, labels[:40], SETTINGS, KINDS)
    inputs, _ = baselines.inputs(method, features, values)
    written = round_trip(model, inputs.columns)
    new_values = values.loc[new].copy()
    new_values.loc[new[0], "sex"] = "X"  # a level never seen in training counts as none of the known
    table = (new_values if method == "clinical" else features).loc[new]
    expected = model.predict_proba(baselines.matrix(method, features, new_values, new))[:, 1]
    np.testing.assert_allclose(plain.apply(written, table), expected, rtol=1e-12, atol=1e-15)


def test_the_stack_with_clinical_variables_gives_scikit_learns_probabilities():
    features, values, labels = cohort()
    rng = np.random.default_rng(1)
    scores = pd.DataFrame({"last": rng.random(60), "radiomics": rng.random(60)}, index=features.index)
    settings = {"components": ["last", "radiomics"], "clinical_variables": True, "c_values": [0.1, 1.0]}
    settings |= {"inner_k": 3, "scoring": "neg_log_loss"}
    table = fusion.stack_table(scores, features.index, values, settings)
    stack = fusion.stack_pipeline(["last", "radiomics"], KINDS, settings, labels, 0).fit(table, labels)
    written = round_trip(stack, table.columns)
    np.testing.assert_allclose(plain.apply(written, table), stack.predict_proba(table)[:, 1], rtol=1e-12)


def test_a_step_it_does_not_know_is_refused_when_written():
    """A whitened PCA (ours are not) is refused, not written as the plain projection."""
    x = np.random.default_rng(0).normal(size=(20, 3))
    model = make_pipeline(PCA(2, whiten=True), baselines.single_pipeline("intensity")).fit(x, np.arange(20) % 2)
    with pytest.raises(TypeError, match="PCA.*cannot be written as plain numbers"):
        plain.export(model, ["a", "b", "c"])


def test_a_table_without_an_input_column_is_refused_naming_it():
    features, values, labels = cohort()
    model = baselines.fit("intensity", features[["intensity"]].to_numpy(), labels, SETTINGS)
    written = round_trip(model, ["intensity"])
    with pytest.raises(KeyError, match="intensity"):
        plain.apply(written, features.drop(columns="intensity"))
