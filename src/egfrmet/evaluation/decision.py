"""Decision curves (Vickers & Elkin 2006): whether acting on a score helps, at each threshold
probability a clinician might act at.

At threshold p_t, treating the patients whose probability is at least p_t has net benefit
TP/n - FP/n * p_t / (1 - p_t): true positives gained, false positives weighed by the odds
at which the clinician is indifferent. Treat-all is the prevalence minus the negatives
weighed alike; treat-none is 0. A model helps at p_t where it lies above both.
"""

import numpy as np
import pandas as pd

from egfrmet.io.figures import pyplot, save

COLUMNS = ["method", "threshold", "net_benefit", "n_patients", "n_positive"]
REFERENCES = ("treat all", "treat none")


def thresholds(settings):
    """The threshold probabilities of the `evaluate.decision_curve` settings, both ends in."""
    low, high, step = settings["low"], settings["high"], settings["step"]
    return np.round(np.arange(low, high + step / 2, step), 10)


def net_benefit(labels, scores, at):
    """Net benefit of treating patients with score >= each threshold of `at`."""
    labels, scores = np.asarray(labels, dtype=int), np.asarray(scores, dtype=float)
    at = np.asarray(at, dtype=float)
    treated = scores[None, :] >= at[:, None]
    n = len(labels)
    true_positive = (treated & (labels == 1)).sum(axis=1) / n
    false_positive = (treated & (labels == 0)).sum(axis=1) / n
    return true_positive - false_positive * at / (1 - at)


def treat_all(labels, at):
    prevalence = float(np.mean(labels))
    at = np.asarray(at, dtype=float)
    return prevalence - (1 - prevalence) * at / (1 - at)


def decision_table(scores, at):
    """Rows of decision_curve.csv: `scores` maps each method to (labels, probabilities) of
    its out-of-fold patients; treat-all and treat-none on the first method's patients."""
    rows = []
    for method, (labels, probabilities) in scores.items():
        rows.append(curve_rows(method, labels, net_benefit(labels, probabilities, at), at))
    labels = next(iter(scores.values()))[0] if scores else np.array([], dtype=int)
    if len(labels):
        rows.append(curve_rows("treat all", labels, treat_all(labels, at), at))
        rows.append(curve_rows("treat none", labels, np.zeros(len(at)), at))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=COLUMNS)


def curve_rows(method, labels, benefit, at):
    labels = np.asarray(labels, dtype=int)
    return pd.DataFrame(
        {
            "method": method,
            "threshold": at,
            "net_benefit": benefit,
            "n_patients": len(labels),
            "n_positive": int(labels.sum()),
        },
        columns=COLUMNS,
    )


def decision_figure(table, path, shown=None, title="Decision curves (out-of-fold patients)"):
    """Net benefit against threshold probability beside the references, one line per method
    of `shown` ({method: label}; default every method), each its own colour, optimistic ones
    (their label says so) dashed; the y axis from a little below 0 to a little above the
    prevalence (the most any method can reach), so the curves' differences stay visible."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    drawn = [m for m in table.method.unique() if m not in REFERENCES]
    shown = shown if shown is not None else {m: m for m in drawn}
    colours = plt.get_cmap("tab10").colors + plt.get_cmap("Dark2").colors  # 18 distinct
    for i, (method, label) in enumerate((m, shown[m]) for m in drawn if m in shown):
        part = table[table.method == method]
        style = "--" if "optimistic" in label else "-"
        ax.plot(part.threshold, part.net_benefit, color=colours[i % len(colours)], ls=style, lw=1.3, label=label)
    styles = {"treat all": ("grey", "--"), "treat none": ("black", ":")}
    for method, (colour, style) in styles.items():
        part = table[table.method == method]
        ax.plot(part.threshold, part.net_benefit, color=colour, ls=style, lw=1.2, label=method)
    prevalence = table.n_positive.iloc[0] / table.n_patients.iloc[0] if len(table) else 1.0
    ax.set(
        xlim=(float(table.threshold.min()), float(table.threshold.max())) if len(table) else (0, 1),
        ylim=(-0.05 - 0.05 * prevalence, 1.1 * prevalence),
        xlabel="threshold probability (treat when P(EGFR+) ≥ threshold)",
        ylabel="net benefit",
        title=title,
    )
    ax.axhline(0, color="black", lw=0.5)
    ax.legend(fontsize=7, ncol=2, loc="upper right")
    fig.tight_layout()
    save(fig, [path], dpi=120)
