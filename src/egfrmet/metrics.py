"""Every figure's arithmetic, one owner each: the AUC (a point by scikit-learn, bootstrap
resamples by the Mann-Whitney ranks, the same statistic), rates at a threshold, the Brier
score, calibration bins, the stratified bootstrap and DeLong's test; and how a patient's
score is made from its slices (`evaluate.metric`).

Below every stage: training's validation AUC, inference's metrics of held-out patients, the
fused model's inner choice and evaluation's tables all count the same way. Intervals are
percentile intervals of a stratified bootstrap over patients: positives and negatives are
resampled apart, so every resample keeps the cohort's class counts (and an AUC).
"""

import numpy as np
import pandas as pd
from scipy.special import expit
from scipy.stats import norm, rankdata
from sklearn.metrics import roc_auc_score


def aggregate_slices(values, owner, patients, aggregate):
    """`aggregate` (median, mean, min, max) of each patient's slice values, in `patients` order."""
    return pd.Series(values).groupby(np.asarray(owner)).agg(aggregate).loc[list(patients)].to_numpy()


def auc(labels, scores):
    """The ROC AUC of one score column (scikit-learn's)."""
    return float(roc_auc_score(labels, scores))


def auc_rows(labels, scores):
    """AUC of each row of `scores` (resamples, n) against `labels` (resamples, n): the
    Mann-Whitney statistic from average ranks (ties count one half)."""
    ranks = rankdata(scores, axis=1)
    positives = labels.sum(axis=1)
    negatives = labels.shape[1] - positives
    rank_sum = (ranks * labels).sum(axis=1)
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def threshold_rates(labels, scores, threshold):
    """Sensitivity, specificity and accuracy at `threshold`, per row (resamples, n); NaN
    where a row has no patient of a class."""
    predicted = scores >= threshold
    positive = labels == 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "sensitivity": (predicted & positive).sum(axis=1) / positive.sum(axis=1),
            "specificity": (~predicted & ~positive).sum(axis=1) / (~positive).sum(axis=1),
            "accuracy": (predicted == positive).mean(axis=1),
        }


def row_metrics(labels, scores, threshold):
    """AUC and the threshold rates, per row (resamples, n)."""
    return {"auc": auc_rows(labels, scores)} | threshold_rates(labels, scores, threshold)


def threshold_metrics(labels, scores, threshold):
    """Sensitivity, specificity and accuracy of one score column at `threshold`."""
    labels, scores = np.asarray(labels, dtype=int)[None], np.asarray(scores, dtype=float)[None]
    return {name: float(values[0]) for name, values in threshold_rates(labels, scores, threshold).items()}


def brier(labels, scores):
    """Mean squared error of probabilities; NaN for scores that are not probabilities."""
    labels, scores = np.asarray(labels, dtype=float), np.asarray(scores, dtype=float)
    return float(np.mean((scores - labels) ** 2)) if scores.min() >= 0 and scores.max() <= 1 else np.nan


def reliability(labels, scores, bins):
    """Per equal-width probability bin: mean predicted probability, observed positive
    fraction and patient count (empty bins left out)."""
    labels, scores = np.asarray(labels, dtype=float), np.asarray(scores, dtype=float)
    which = np.minimum((scores * bins).astype(int), bins - 1)
    rows = [
        {"predicted": scores[which == b].mean(), "observed": labels[which == b].mean(), "n": int((which == b).sum())}
        for b in range(bins)
        if (which == b).any()
    ]
    return pd.DataFrame(rows, columns=["predicted", "observed", "n"])


def calibration_fit(labels, probabilities, edge=1e-6):
    """(calibration-in-the-large, calibration slope) of probabilities against labels, by
    logistic recalibration of the model's logit z = logit(p) (Van Calster et al. 2016): the
    slope b of logit P(y) = a + b z, and the intercept a of logit P(y) = a + z (z an offset).
    Perfect calibration: 0 and 1; a slope below 1 means over-confident probabilities. NaN when
    a fit does not converge (a cohort that the scores separate perfectly)."""
    labels = np.asarray(labels, dtype=float)
    p = np.clip(np.asarray(probabilities, dtype=float), edge, 1 - edge)
    z = np.log(p / (1 - p))
    (intercept,) = logistic_fit(labels, np.ones((len(z), 1)), offset=z)
    _, slope = logistic_fit(labels, np.column_stack([np.ones_like(z), z]))
    return intercept, slope


def logistic_fit(labels, X, offset=0.0, iterations=200, tolerance=1e-10):
    """Maximum-likelihood coefficients of an unpenalised logistic regression with an offset:
    Newton-Raphson, each step halved until the likelihood rises (saturated probabilities
    give steps far too long). NaN for each when it does not converge (separated classes)."""
    beta = np.zeros(X.shape[1])

    def log_likelihood(b):
        eta = X @ b + offset
        return float(np.sum(labels * eta - np.logaddexp(0, eta)))

    current = log_likelihood(beta)
    for _ in range(iterations):
        mu = expit(X @ beta + offset)
        hessian = X.T @ (X * (mu * (1 - mu))[:, None])
        try:
            step = np.linalg.solve(hessian, X.T @ (labels - mu))
        except np.linalg.LinAlgError:
            break
        for _ in range(60):  # halve until the likelihood does not fall
            candidate = beta + step
            value = log_likelihood(candidate)
            if value >= current - 1e-12:
                break
            step = step / 2
        beta, current = candidate, value
        if not np.all(np.isfinite(beta)) or np.abs(beta).max() > 1e3:
            break
        if np.abs(step).max() < tolerance:
            return tuple(float(b) for b in beta)
    return tuple(float("nan") for _ in beta)


def bootstrap_settings(settings):
    """The bootstrap options from the `evaluate` config section."""
    return {"resamples": settings["bootstrap"], "level": settings["ci_level"], "seed": settings["seed"]}


def stratified_resamples(labels, resamples, seed):
    """(resamples, n) patient indices: positives drawn from positives, negatives from negatives."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    parts = []
    for cls in (1, 0):
        members = np.flatnonzero(labels == cls)
        parts.append(members[rng.integers(0, len(members), (resamples, len(members)))])
    return np.concatenate(parts, axis=1)


def percentile_interval(values, level):
    tail = (1 - level) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return float(low), float(high)


def bootstrap_auc(labels, scores, *, resamples, level, seed):
    """The AUC's stratified bootstrap interval: with the same seed, the summary table's."""
    labels, scores = np.asarray(labels, dtype=int), np.asarray(scores, dtype=float)
    pick = stratified_resamples(labels, resamples, seed)
    return percentile_interval(auc_rows(labels[pick], scores[pick]), level)


def delong(labels, first, second):
    """AUCs of two scores of the same patients and DeLong's two-sided p-value for their
    difference (1.0 when the difference has no variance, e.g. identical rankings): DeLong,
    DeLong & Clarke-Pearson 1988, in the fast form of Sun & Xu 2014."""
    labels = np.asarray(labels, dtype=int)
    scores = np.stack([np.asarray(first, dtype=float), np.asarray(second, dtype=float)])
    positives, negatives = scores[:, labels == 1], scores[:, labels == 0]
    m, n = positives.shape[1], negatives.shape[1]
    both = rankdata(np.concatenate([positives, negatives], axis=1), axis=1)
    within_positives, within_negatives = rankdata(positives, axis=1), rankdata(negatives, axis=1)
    aucs = (both[:, :m].sum(axis=1) - m * (m + 1) / 2) / (m * n)
    v_positive = (both[:, :m] - within_positives) / n  # each positive's share of the AUC
    v_negative = 1 - (both[:, m:] - within_negatives) / m
    covariance = np.cov(v_positive) / m + np.cov(v_negative) / n
    variance = covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1]
    difference = aucs[0] - aucs[1]
    if variance <= 1e-15:
        return float(aucs[0]), float(aucs[1]), 1.0
    return float(aucs[0]), float(aucs[1]), float(2 * norm.sf(abs(difference) / np.sqrt(variance)))
