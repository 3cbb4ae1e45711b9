# Grad-CAM (docs/method.md): the crops of each cross-validation patient with the heat
# map of the model of the fold that validated it (first repeat), and typical patients per
# class. One job per fold, so that each model loads once; a rule per fold because each
# writes its own patients' files (results/explain/{patient}.png).


for fold, patients in EXPLAINED.items():

    rule:
        name:
            f"explain_fold{fold}"
        input:
            model=f"results/models/fold{fold}/model.pt",
            crops=expand("results/crops/{patient}.npz", patient=patients),
        output:
            maps=expand("results/explain/{patient}.npz", patient=patients),
            pictures=expand("results/explain/{patient}.png", patient=patients),
        log:
            f"logs/explain/fold{fold}.log",
        conda:
            "../../envs/torch.yaml"
        threads: config["resources"]["predict"]["threads"]
        params:
            model=MODEL_SETTINGS,
            fold=fold,
            layer=config["explain"]["layer"],
        shell:
            "python -m egfrmet explain --fold {params.fold} --model {input.model:q}"
            " --model-settings {params.model:q} --crops {input.crops:q}"
            " --layer {params.layer:q} --threads {threads}"
            " --out-dir results/explain 2> {log:q}"


rule explain_figure:
    input:
        scores=rules.evaluate.output.scores,
        maps=explained_maps,
    output:
        figure=report(
            "results/evaluation/explanations.png",
            caption="../report/explanations.rst",
            category="Explanations",
        ),
        table="results/evaluation/explanations.csv",
    log:
        "logs/explain/figure.log",
    conda:
        "../../envs/torch.yaml"
    params:
        selection=EXPLAINED_SELECTION,
        aggregate=config["evaluate"]["metric"],
        per_class=config["explain"]["patients_per_class"],
    shell:
        "python -m egfrmet explain-figure --scores {input.scores:q} --selection {params.selection}"
        " --aggregate {params.aggregate} --explained {input.maps:q}"
        " --per-class {params.per_class} --out {output.figure:q} --out-table {output.table:q}"
        " 2> {log:q}"
