# The leak-free inner_ensemble selection: each fold's validation patients scored by the mean
# of the fold's inner models (each kept at its own best inner-validation epoch). One small
# scoring job per fold; the trainings are train_inner's.


include: "inputs/ensemble.smk"


rule ensemble:
    input:
        folds="results/folds.tsv",
        models=inner_models,
        crops=outer_validation_crops,
    output:
        "results/models/fold{fold}/inner_ensemble_slices.csv",
    log:
        "logs/ensemble/fold{fold}.log",
    benchmark:
        "logs/benchmarks/ensemble/fold{fold}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: config["resources"]["predict"]["threads"]
    params:
        model=MODEL_SETTINGS,
        train=TRAIN_SETTINGS,
    shell:
        "python -m egfrmet ensemble --fold {wildcards.fold} --folds {input.folds:q}"
        " --crops {input.crops:q} --models {input.models:q}"
        " --model-settings {params.model:q} --settings {params.train:q} --threads {threads}"
        " --out {output:q} 2> {log:q}"
