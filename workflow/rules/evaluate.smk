# Cross-validation results: the paper's Table 2, Fig. 1 (slice scores) and Fig. 2 (ROC), and
# beyond the paper the summary table (pooled figures with stratified bootstrap intervals) and
# a calibration figure; with baselines, their summary rows and the paired comparison.


include: "inputs/evaluate.smk"


rule evaluate:
    input:
        val=validation_slices,
        histories=expand("results/models/fold{fold}/history.csv", fold=FOLDS),
        crops=training_crops,
        baselines=baseline_scores,
    output:
        table=report(
            "results/evaluation/table2.csv",
            caption="../report/table2.rst",
            category="Cross-validation",
        ),
        markdown="results/evaluation/table2.md",
        cross_validation="results/evaluation/cross_validation.csv",
        comparison=report(
            "results/evaluation/comparison.csv",
            caption="../report/comparison.rst",
            category="Cross-validation",
        ),
        comparison_markdown="results/evaluation/comparison.md",
        calibration=report(
            "results/evaluation/calibration.png",
            caption="../report/calibration.rst",
            category="Cross-validation",
        ),
        decision=report(
            "results/evaluation/decision_curve.png",
            caption="../report/decision_curve.rst",
            category="Cross-validation",
        ),
        decision_table="results/evaluation/decision_curve.csv",
        scores="results/evaluation/patient_scores.csv",
        roc=report(
            "results/evaluation/roc.png",
            caption="../report/roc.rst",
            category="Cross-validation",
        ),
        roc_pdf="results/evaluation/roc.pdf",
        slices=report(
            "results/evaluation/slice_scores.png",
            caption="../report/slice_scores.rst",
            category="Cross-validation",
        ),
        curves=report(
            "results/evaluation/training_curves.png",
            caption="../report/training_curves.rst",
            category="Training",
        ),
    log:
        "logs/evaluate.log",
    benchmark:
        "logs/benchmarks/evaluate.tsv"
    conda:
        "../../envs/torch.yaml"
    params:
        settings=settings("evaluate"),
        predict_with=config["train"]["predict_with"],
        held_out=held_out_option,
    shell:
        "python -m egfrmet evaluate --val-slices {input.val:q} --histories {input.histories:q}"
        " --crops {input.crops:q}"
        " --settings {params.settings:q} --predict-with {params.predict_with}"
        " {params.held_out} --baseline-scores {input.baselines:q}"
        " --out-dir results/evaluation 2> {log:q}"
