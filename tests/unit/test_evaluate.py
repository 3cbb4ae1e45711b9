import numpy as np
import pandas as pd
import pytest

from egfrmet.evaluation import evaluate, figures, summary
from egfrmet.metrics import threshold_metrics


def slice_table():
    """Two folds, four patients each, five slices with hand-picked probabilities."""
    patients = {
        # id: (fold, label, slice probabilities)
        "A": (0, 1, [0.9, 0.8, 0.7, 0.2, 0.9]),  # median 0.8, mean 0.7, min 0.2, max 0.9
        "B": (0, 1, [0.4, 0.6, 0.3, 0.5, 0.5]),  # median 0.5, mean 0.46
        "C": (0, 0, [0.1, 0.2, 0.1, 0.3, 0.6]),  # median 0.2, max 0.6
        "D": (0, 0, [0.6, 0.7, 0.5, 0.4, 0.1]),  # median 0.5 (ties B), mean 0.46
        "E": (1, 1, [0.7, 0.7, 0.7, 0.7, 0.7]),
        "F": (1, 0, [0.2, 0.2, 0.2, 0.2, 0.2]),
        "G": (1, 0, [0.8, 0.1, 0.1, 0.1, 0.1]),  # max 0.8 beats E's 0.7
        "H": (1, 1, [0.1, 0.9, 0.9, 0.9, 0.9]),
    }
    rows = []
    for pid, (fold, label, probs) in patients.items():
        rows += [
            {"patient_id": pid, "slice": i, "probability": p, "label": label, "fold": fold} for i, p in enumerate(probs)
        ]
    return pd.DataFrame(rows)


def test_patient_scores_are_the_aggregates_of_their_slices():
    scores = evaluate.patient_scores(slice_table()).set_index("patient_id")
    assert scores.loc["A", ["median", "mean", "min", "max"]].tolist() == pytest.approx([0.8, 0.7, 0.2, 0.9])
    assert scores.loc["B", "mean"] == pytest.approx(0.46)
    assert scores.loc["G", "max"] == 0.8 and scores.loc["G", "median"] == 0.1
    assert scores.loc["C", "label"] == 0 and scores.loc["E", "fold"] == 1


def test_table2_fold_aucs_mean_sd_and_threshold_metrics():
    scores = evaluate.patient_scores(slice_table())
    table = evaluate.table2(scores, threshold=0.5, bootstrap={"resamples": 200, "level": 0.95, "seed": 0}).set_index(
        "aggregate"
    )
    # median, fold 0: positives 0.8, 0.5; negatives 0.2, 0.5 -> pairs 1, 1, 1, 0.5 -> 0.875
    assert table.loc["median", "fold_0_auc"] == pytest.approx(0.875)
    # max, fold 1: positives 0.7, 0.9; negatives 0.2, 0.8 -> 1, 0, 1, 1 -> 0.75
    assert table.loc["max", "fold_1_auc"] == pytest.approx(0.75)
    median = table.loc["median"]
    assert median.mean_auc == pytest.approx((0.875 + 1.0) / 2)
    assert median.sd_auc == pytest.approx(np.std([0.875, 1.0]))  # population SD, as the paper
    # median >= 0.5: A B E H positive (4/4); D (0.5) is the one false positive of 4 negatives
    assert median.sensitivity == 1.0 and median.specificity == 0.75 and median.accuracy == 7 / 8
    assert median.pooled_auc_low <= median.pooled_auc <= median.pooled_auc_high


def test_threshold_metrics_by_hand():
    metrics = threshold_metrics([1, 1, 0, 0, 0], [0.9, 0.4, 0.6, 0.1, 0.2], 0.5)
    assert metrics == {"sensitivity": 0.5, "specificity": 2 / 3, "accuracy": 0.6}


def test_markdown_says_when_figures_are_optimistic():
    scores = evaluate.patient_scores(slice_table())
    table = evaluate.table2(scores, threshold=0.5, bootstrap={"resamples": 50, "level": 0.9, "seed": 0})
    text = evaluate.table2_markdown(table, threshold=0.5, level=0.9, selection="best_val_accuracy")
    assert "| Median | 0.88 | 1.00 |" in text and "optimistic" in text
    last = evaluate.table2_markdown(table, threshold=0.5, level=0.9, selection="last")
    assert "optimistic" not in last and "chose nothing" in last


def test_table_note_names_the_training_precision_and_device():
    histories = [pd.DataFrame({"epoch": [0, 1], "precision": "fp32", "device": "AMD EPYC"}) for _ in range(2)]
    note = evaluate.training_note(histories)
    assert "fp32 on AMD EPYC" in note and "bit for bit" in note
    histories[1] = histories[1].assign(precision="bf16", device="Intel Xeon")
    assert "bf16 on Intel Xeon; fp32 on AMD EPYC" in evaluate.training_note(histories)
    assert evaluate.training_note([pd.DataFrame({"epoch": [0]})]) == ""  # histories from before


def test_run_writes_every_output(tmp_path):
    crops = tmp_path / "crops"
    crops.mkdir()
    table = slice_table()
    for pid in table.patient_id.unique():
        np.savez(crops / f"{pid}.npz", slices=np.random.default_rng(0).random((5, 8, 8)).astype(np.float32))
    paths, histories = [], []
    for fold, part in table.groupby("fold"):
        paths.append(tmp_path / f"val{fold}.csv")
        shifted = part.assign(probability=part.probability * 0.9)  # another selection's probabilities
        pd.concat([part.assign(selection="last"), shifted.assign(selection="best_val_accuracy")]).to_csv(
            paths[-1], index=False
        )
        histories.append(tmp_path / f"history{fold}.csv")
        epochs = np.arange(4)
        pd.DataFrame(
            {
                "epoch": epochs,
                "lr": 1e-3,
                "train_loss": 1 - epochs / 10,
                "val_loss": 0.5,
                "val_acc": 0.7,
                "val_f1": 0.5,
                "val_auc": 0.8,
                "seconds": 1.0,
                "selected": epochs == 2,
            }
        ).to_csv(histories[-1], index=False)
    settings = {
        "metric": "median",
        "threshold": 0.5,
        "bootstrap": 100,
        "ci_level": 0.95,
        "seed": 0,
        "figure_patients_per_class": 2,
        "calibration_bins": 5,
        "decision_curve": {"low": 0.05, "high": 0.95, "step": 0.05},
    }
    evaluate.run(
        val_slices=[str(p) for p in paths],
        histories=[str(p) for p in histories],
        crops=[str(p) for p in crops.glob("*.npz")],
        settings=settings,
        predict_with="last",
        out_dir=str(tmp_path / "out"),
    )
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == [
        "calibration.png",
        "comparison.csv",
        "comparison.md",
        "cross_validation.csv",
        "decision_curve.csv",
        "decision_curve.png",
        "patient_scores.csv",
        "roc.pdf",
        "roc.png",
        "slice_scores.png",
        "table2.csv",
        "table2.md",
        "training_curves.png",
    ]
    rows = pd.read_csv(tmp_path / "out" / "cross_validation.csv")  # summary.csv's internal rows
    assert list(rows.columns) == summary.COLUMNS and (rows.validation == summary.INTERNAL).all()
    assert list(rows.columns) == summary.COLUMNS and list(rows["aggregate"]) == 2 * list(evaluate.AGGREGATES)
    assert list(rows.selection) == ["best_val_accuracy"] * 4 + ["last"] * 4  # the paper's first
    assert (rows.n_patients == 8).all() and rows.brier.notna().all()
    table2 = (tmp_path / "out" / "table2.md").read_text(encoding="utf-8")
    assert "### Selection: best_val_accuracy" in table2 and "### Selection: last" in table2
    assert set(pd.read_csv(tmp_path / "out" / "patient_scores.csv").selection) == {"last", "best_val_accuracy"}
    table2_rows = pd.read_csv(tmp_path / "out" / "table2.csv")
    merged = table2_rows.merge(rows, on=["selection", "aggregate"])
    assert np.allclose(merged.pooled_auc_low, merged.auc_low) and np.allclose(merged.pooled_auc_high, merged.auc_high)
    # positives by median: B .5, E .7, A .8, H .9; negatives: G .1, C .2, F .2, D .5 -> the extremes
    assert figures.example_patients(evaluate.patient_scores(table), "median", 2) == ["B", "H", "G", "D"]


def test_held_out_folds_get_their_own_summary_rows():
    """Leave-centre-out: each held-out centre's rows score its own patients alone."""
    scores = {"last": {0: evaluate.patient_scores(slice_table())}}
    settings = {"threshold": 0.5, "bootstrap": 100, "ci_level": 0.95, "seed": 0}
    rows = evaluate.summary_rows(scores, settings, held_out={"0": "centre A", "1": "centre B"})
    assert list(rows.subset) == ["all"] * 4 + ["centre A"] * 4 + ["centre B"] * 4
    assert rows.n_patients.tolist() == [8] * 4 + [4] * 8
    # centre B (fold 1) by median: positives E .7, H .9 above negatives F .2, G .1
    assert rows.auc[(rows.subset == "centre B") & (rows["aggregate"] == "median")].item() == 1.0
    markdown = summary.summary_markdown(rows, level=0.95)
    assert "| last | median | centre B | 4 (2) |" in markdown


def test_repeats_get_their_own_rows_and_all_patients_once_averaged_over_repeats():
    first = evaluate.patient_scores(slice_table())
    second = evaluate.patient_scores(
        slice_table().assign(probability=lambda t: 1 - t.probability, fold=lambda t: t.fold + 2)
    )
    settings = {"threshold": 0.5, "bootstrap": 100, "ci_level": 0.95, "seed": 0}
    rows = evaluate.summary_rows({"last": {0: first, 1: second}}, settings)
    assert list(rows.subset) == ["all"] * 4 + ["repeat 0"] * 4 + ["repeat 1"] * 4
    assert (rows.n_patients == 8).all()  # each patient once in every row, repeats or not
    median = rows[rows["aggregate"] == "median"].set_index("subset").auc
    assert median["repeat 0"] == pytest.approx(1 - median["repeat 1"])
    assert median["all"] == 0.5  # every patient's mean over the two repeats is 0.5
    markdown = summary.summary_markdown(rows, level=0.95)
    mean, sd = (
        np.mean([median["repeat 0"], median["repeat 1"]]),
        np.std([median["repeat 0"], median["repeat 1"]], ddof=1),
    )
    assert f"- last, median: {mean:.3f} ± {sd:.3f}" in markdown and "| last | median | repeat 1 | 8 (4) |" in markdown


def test_the_same_figure_gives_the_same_bytes_as_png_and_pdf(tmp_path, monkeypatch):
    """A PDF holds its creation time unless told not to; two runs' figures must compare equal."""
    from egfrmet.io import figures as written

    for name, day in (("a", 0), ("b", 1)):  # matplotlib dates a PDF by SOURCE_DATE_EPOCH
        monkeypatch.setenv("SOURCE_DATE_EPOCH", str(86400 * day))
        fig, axis = written.pyplot().subplots()
        axis.plot([0, 1], [0, 1])
        written.save(fig, [tmp_path / f"{name}.png", tmp_path / f"{name}.pdf"], dpi=50)
    for suffix in ("png", "pdf"):
        assert (tmp_path / f"a.{suffix}").read_bytes() == (tmp_path / f"b.{suffix}").read_bytes()
