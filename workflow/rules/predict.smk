# Patients never trained on (split test, an external cohort, no label; with `bundle:` every
# patient): scored by the model bundle — the run's own (rule bundle) or the config's — with
# its method, aggregate and threshold. Then each labelled external cohort's figures, and the
# summary of the run: out-of-fold rows and external rows side by side.


include: "inputs/predict.smk"


# The summary joins two small tables: no cluster job for it.
localrules:
    summary,


rule predict:
    input:
        unpack(prediction_extras),
        bundle=BUNDLE or paths.BUNDLE,
        crops=prediction_crops,
    output:
        predictions=report(
            "results/predictions/predictions.csv",
            caption="../report/predictions.rst",
            category="Prediction",
        ),
        metrics="results/predictions/metrics.csv",
    log:
        "logs/predict.log",
    benchmark:
        "logs/benchmarks/predict.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: config["resources"]["predict"]["threads"]
    params:
        patients=prediction_patients(),
        locked=LOCKED_SETTINGS,
        predict=settings("predict"),
        evaluate=settings("evaluate"),
        inference=INFERENCE_SETTINGS,
    shell:
        "python -m egfrmet predict --bundle {input.bundle:q} --crops {input.crops:q}"
        " --patients {params.patients:q} --locked {params.locked:q}"
        " --settings {params.predict:q} --evaluate-settings {params.evaluate:q}"
        " --inference {params.inference:q} --threads {threads}"
        " --features {input.features:q} --clinical {input.clinical:q}"
        " --out {output.predictions:q} --out-metrics {output.metrics:q} 2> {log:q}"


rule external:
    input:
        predictions=rules.predict.output.predictions,
        bundle=BUNDLE or paths.BUNDLE,
    output:
        table="results/evaluation/external.csv",
        calibration=report(
            expand(
                "results/evaluation/external/{cohort}/calibration.png",
                cohort=EXTERNAL_COHORTS,
            ),
            caption="../report/external.rst",
            category="External validation",
        ),
        decision=expand(
            "results/evaluation/external/{cohort}/decision_curve.{ext}",
            cohort=EXTERNAL_COHORTS,
            ext=["png", "csv"],
        ),
    log:
        "logs/external.log",
    benchmark:
        "logs/benchmarks/external.tsv"
    conda:
        "../../envs/torch.yaml"
    params:
        settings=settings("evaluate"),
    shell:
        "python -m egfrmet external --predictions {input.predictions:q} --bundle {input.bundle:q}"
        " --settings {params.settings:q} --out {output.table:q}"
        " --out-dir results/evaluation/external 2> {log:q}"


rule summary:
    input:
        unpack(summary_inputs),
    output:
        table=report(
            "results/evaluation/summary.csv",
            caption="../report/summary.rst",
            category="Cross-validation",
        ),
        markdown="results/evaluation/summary.md",
    log:
        "logs/summary.log",
    benchmark:
        "logs/benchmarks/summary.tsv"
    conda:
        "../../envs/torch.yaml"
    params:
        level=config["evaluate"]["ci_level"],
        bundle=BUNDLE,
        predict_with=config["train"]["predict_with"],
        metric=config["evaluate"]["metric"],
    shell:
        "python -m egfrmet summary --cross-validation {input.cross_validation:q}"
        " --external {input.external:q} --bundle {params.bundle:q} --deployed {input.deployed:q}"
        " --predict-with {params.predict_with} --metric {params.metric} --level {params.level}"
        " --out {output.table:q} --out-markdown {output.markdown:q} 2> {log:q}"
