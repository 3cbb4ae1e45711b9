# One training job per fold; `gpu` lets a cluster give each its own card.


rule train:
    input:
        folds="results/folds.tsv",
        crops=training_crops,
    output:
        model="results/models/fold{fold}/model.pt",
        history=report(
            "results/models/fold{fold}/history.csv",
            caption="../report/history.rst",
            category="Training",
        ),
        val="results/models/fold{fold}/val_slices.csv",
    log:
        "logs/train/fold{fold}.log",
    conda:
        "../../envs/torch.yaml"
    threads: config["resources"]["train"]["threads"]
    resources:
        gpu=config["resources"]["train"]["gpu"],
    params:
        model=settings("model"),
        train=settings("train"),
    shell:
        "python -m egfrmet train --fold {wildcards.fold} --folds {input.folds:q} --crops results/crops"
        " --model-settings {params.model:q} --settings {params.train:q} --threads {threads}"
        " --out-model {output.model:q} --out-history {output.history:q} --out-val {output.val:q}"
        " 2> {log:q}"
