"""Fitted scikit-learn models as plain numbers and names (JSON), and their probabilities from
those numbers alone: what a bundle carries instead of a pickle, which could run any code on
the reader's machine and ties a file to one scikit-learn version.

Only the steps our methods fit are known (egfrmet.baselines.methods, clinical, fusion):
median or most-frequent imputation with missing indicators, a variance filter, a log1p,
standardisation, a principal-component projection, one-hot levels, named column groups and a
logistic regression. Anything
else is refused when written, so a new step cannot travel silently as something else.
A written model is {"inputs": [column names], "steps": [...]}: apply() takes a table with
those columns (patients as rows) and gives each row's positive-class probability.
"""

import numpy as np
import pandas as pd
from scipy.special import expit

KINDS = ("impute", "select", "log1p", "scale", "project", "onehot", "columns", "logistic")


def export(pipeline, inputs):
    """The plain form of a fitted `pipeline` whose input table has the columns `inputs`."""
    return {"inputs": [str(name) for name in inputs], "steps": export_steps(pipeline)}


def export_steps(estimator):
    from sklearn.pipeline import Pipeline

    if isinstance(estimator, Pipeline):
        return [step for _, part in estimator.steps for step in export_steps(part)]
    return [export_step(estimator)]


def export_step(step):
    """One fitted step as a dict of lists and numbers (JSON's types)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.decomposition import PCA
    from sklearn.feature_selection import VarianceThreshold
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    if isinstance(step, SimpleImputer):
        statistics = np.asarray(step.statistics_, dtype=object)
        keep = [i for i, value in enumerate(statistics) if not is_missing(value)]  # all-missing columns drop
        indicator = step.indicator_.features_.tolist() if step.add_indicator else []
        return {"kind": "impute", "keep": keep, "fill": [plain(statistics[i]) for i in keep], "indicator": indicator}
    if isinstance(step, VarianceThreshold):
        return {"kind": "select", "keep": np.flatnonzero(step.get_support()).tolist()}
    if isinstance(step, FunctionTransformer) and step.func is np.log1p and step.inverse_func is None:
        return {"kind": "log1p"}
    if isinstance(step, StandardScaler) and step.with_mean and step.with_std:
        return {"kind": "scale", "mean": step.mean_.tolist(), "scale": step.scale_.tolist()}
    if isinstance(step, PCA) and not step.whiten:
        return {"kind": "project", "mean": step.mean_.tolist(), "components": step.components_.tolist()}
    if isinstance(step, OneHotEncoder) and step.drop is None and step.handle_unknown == "ignore":
        return {"kind": "onehot", "categories": [[plain(v) for v in levels] for levels in step.categories_]}
    if isinstance(step, ColumnTransformer):
        parts = [(name, part, columns) for name, part, columns in step.transformers_ if name != "remainder"]
        if step.remainder != "drop":
            raise TypeError("a ColumnTransformer that passes columns through cannot be written as plain numbers")
        return {"kind": "columns", "parts": [{"columns": list(c), "steps": export_steps(p)} for _, p, c in parts]}
    if isinstance(step, LogisticRegression | LogisticRegressionCV) and list(step.classes_) == [0, 1]:
        return {"kind": "logistic", "coef": step.coef_[0].tolist(), "intercept": float(step.intercept_[0])}
    raise TypeError(f"{type(step).__name__} ({step}) cannot be written as plain numbers (known: {', '.join(KINDS)})")


def is_missing(value):
    return value is None or (isinstance(value, float) and np.isnan(value))


def plain(value):
    """A numpy scalar as its Python value (JSON's types)."""
    return value.item() if isinstance(value, np.generic) else value


def apply(model, table):
    """Positive-class probabilities of the rows of `table` (a DataFrame with model["inputs"])."""
    missing = [name for name in model["inputs"] if name not in table.columns]
    if missing:
        raise KeyError(f"the model needs the inputs {missing[:5]} ({len(missing)} missing)")
    frame = table[model["inputs"]]
    x = frame if model["steps"][0]["kind"] == "columns" else frame.to_numpy(dtype=float)
    return run_steps(model["steps"], x)


def run_steps(steps, x):
    for step in steps:
        x = STEPS[step["kind"]](step, x)
    return x


def impute(step, x):
    x = np.asarray(x)
    numeric = x.dtype != object
    missing = np.isnan(x) if numeric else pd.isna(x)
    kept = x[:, step["keep"]].copy()
    for j, fill in enumerate(step["fill"]):
        kept[missing[:, step["keep"][j]], j] = fill
    if not step["indicator"]:
        return kept
    flags = missing[:, step["indicator"]]
    return np.hstack([kept, flags.astype(kept.dtype)]) if numeric else np.hstack([kept, flags.astype(object)])


def select(step, x):
    return np.asarray(x)[:, step["keep"]]


def log1p(step, x):
    return np.log1p(np.asarray(x, dtype=float))


def scale(step, x):
    x = np.asarray(x, dtype=float) - np.asarray(step["mean"])
    return x / np.asarray(step["scale"])


def project(step, x):
    return (np.asarray(x, dtype=float) - np.asarray(step["mean"])) @ np.asarray(step["components"]).T


def onehot(step, x):
    x = np.asarray(x, dtype=object)
    columns = [
        (x[:, j][:, None] == np.asarray(levels, dtype=object)[None]) for j, levels in enumerate(step["categories"])
    ]
    return np.hstack(columns).astype(float) if columns else np.zeros((len(x), 0))


def columns(step, table):
    outputs = []
    for part in step["parts"]:
        frame = table[part["columns"]]
        if part["steps"][0]["kind"] == "columns":  # a nested group (the stack's clinical design)
            x = frame
        else:
            numeric = all(pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns)
            x = frame.to_numpy(dtype=float if numeric else object)
        outputs.append(np.asarray(run_steps(part["steps"], x), dtype=float))
    return np.hstack(outputs)


def logistic(step, x):
    return expit(np.asarray(x, dtype=float) @ np.asarray(step["coef"]) + step["intercept"])


STEPS = {
    "impute": impute,
    "select": select,
    "log1p": log1p,
    "scale": scale,
    "project": project,
    "onehot": onehot,
    "columns": columns,
    "logistic": logistic,
}
