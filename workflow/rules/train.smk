# One training job per fold; `gpu` lets a cluster give each its own card. A job killed
# mid-way (walltime, pre-emption) resumes from results/checkpoints/ when run again: not an
# output, so Snakemake leaves it; it goes when the fold is done. For the leak-free selections
# (inner_cv, inner_ensemble), each fold's training patients are split into inner folds
# first: one training job per inner fold, which keeps its history, its model at its own
# best inner-validation epoch, and its validation patients' scores at that epoch and the last
# (the fusion's); inner_cv's epoch is the one they choose together.


include: "inputs/train.smk"


rule train_inner:
    input:
        folds="results/folds.tsv",
        crops=outer_training_crops,
    output:
        model="results/models/fold{fold}/inner{inner}/model.pt",
        history="results/models/fold{fold}/inner{inner}/history.csv",
        val="results/models/fold{fold}/inner{inner}/val_slices.csv",
    log:
        "logs/train/fold{fold}_inner{inner}.log",
    benchmark:
        "logs/benchmarks/train_inner/fold{fold}_inner{inner}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: config["resources"]["train"]["threads"]
    resources:
        gpu=config["resources"]["train"]["gpu"],
        checkpoint_seconds=config["resources"]["train"]["checkpoint_seconds"],
    params:
        model=MODEL_SETTINGS,
        train=TRAIN_SETTINGS,
    shell:
        "python -m egfrmet train --fold {wildcards.fold} --inner {wildcards.inner}"
        " --folds {input.folds:q} --crops {input.crops:q}"
        " --model-settings {params.model:q} --settings {params.train:q} --threads {threads}"
        " --checkpoint results/checkpoints/fold{wildcards.fold}_inner{wildcards.inner}.pt"
        " --checkpoint-seconds {resources.checkpoint_seconds}"
        " --out-model {output.model:q} --out-history {output.history:q} --out-val {output.val:q}"
        " 2> {log:q}"


rule choose_epoch:
    input:
        expand(
            "results/models/fold{{fold}}/inner{inner}/history.csv",
            inner=INNER_FOLDS,
        ),
    output:
        "results/models/fold{fold}/inner_choice.json",
    log:
        "logs/choose_epoch/fold{fold}.log",
    benchmark:
        "logs/benchmarks/choose_epoch/fold{fold}.tsv"
    conda:
        "../../envs/torch.yaml"
    params:
        metric=config["train"]["inner"]["metric"],
    shell:
        "python -m egfrmet choose-epoch --histories {input:q} --metric {params.metric}"
        " --out {output:q} 2> {log:q}"


rule train:
    input:
        unpack(inner_choice),
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
    benchmark:
        "logs/benchmarks/train/fold{fold}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: config["resources"]["train"]["threads"]
    resources:
        gpu=config["resources"]["train"]["gpu"],
        # a resource, not a param: how often to checkpoint changes no result
        checkpoint_seconds=config["resources"]["train"]["checkpoint_seconds"],
    params:
        model=MODEL_SETTINGS,
        train=TRAIN_SETTINGS,
        choice=choice_option,
    shell:
        "python -m egfrmet train --fold {wildcards.fold} --folds {input.folds:q} --crops {input.crops:q}"
        " {params.choice}"
        " --model-settings {params.model:q} --settings {params.train:q} --threads {threads}"
        " --checkpoint results/checkpoints/fold{wildcards.fold}.pt"
        " --checkpoint-seconds {resources.checkpoint_seconds}"
        " --out-model {output.model:q} --out-history {output.history:q} --out-val {output.val:q}"
        " 2> {log:q}"
