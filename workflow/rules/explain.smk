# Grad-CAM (docs/method.md): the crops of each cross-validation patient with the heat
# map of the model of the fold that validated it (first repeat), and typical patients per
# class. One job per fold, so that each model loads once; each writes its patients' maps
# and pictures into the fold's folder (results/explain/fold{fold}/{patient}.png).


include: "inputs/explain.smk"


rule explain:
    input:
        model=paths.FOLD_MODEL,
        crops=explained_crops,
    output:
        maps=directory("results/explain/fold{fold}"),
    log:
        "logs/explain/fold{fold}.log",
    benchmark:
        "logs/benchmarks/explain/fold{fold}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: config["resources"]["predict"]["threads"]
    params:
        model=MODEL_SETTINGS,
        layer=config["explain"]["layer"],
        target=config["explain"]["target"],
    shell:
        "python -m egfrmet explain --fold {wildcards.fold} --model {input.model:q}"
        " --model-settings {params.model:q} --crops {input.crops:q}"
        " --layer {params.layer:q} --classes {params.target} --threads {threads}"
        " --out-dir {output.maps:q} 2> {log:q}"


rule explain_figure:
    input:
        scores=rules.evaluate.output.scores,
        maps=explained_folds,
    output:
        figure=report(
            "results/evaluation/explanations.png",
            caption="../report/explanations.rst",
            category="Explanations",
        ),
        table="results/evaluation/explanations.csv",
    log:
        "logs/explain/figure.log",
    benchmark:
        "logs/benchmarks/explain_figure/figure.tsv"
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
