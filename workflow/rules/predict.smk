# Patients never trained on (split test, or no label): the mean of the models that
# train.predict_with kept (fold models; for inner_ensemble, every fold's inner models); for
# fusion or auto, what egfrmet deploy fitted, on the fold models' (`last`) mean and the
# patients' features and clinical values.


include: "inputs/predict.smk"


rule predict:
    input:
        unpack(prediction_extras),
        models=prediction_models,
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
        model=MODEL_SETTINGS,
        predict=settings("predict"),
        evaluate=settings("evaluate"),
        inference=INFERENCE_SETTINGS,
        selection=config["train"]["predict_with"],
    shell:
        "python -m egfrmet predict --models {input.models:q} --selection {params.selection}"
        " --crops {input.crops:q}"
        " --patients {params.patients:q} --model-settings {params.model:q}"
        " --settings {params.predict:q} --evaluate-settings {params.evaluate:q}"
        " --inference {params.inference:q} --threads {threads}"
        " --deployed {input.deployed:q} --features {input.features:q} --clinical {input.clinical:q}"
        " --out {output.predictions:q} --out-metrics {output.metrics:q} 2> {log:q}"
