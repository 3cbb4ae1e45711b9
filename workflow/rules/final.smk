# train.final: one model on every cross-validation patient, trained for the length the inner
# folds chose (median over the folds), for `egfrmet scan --models results/models/final/model.pt`.


include: "inputs/final.smk"


rule train_final:
    input:
        folds="results/folds.tsv",
        choices=first_repeat_choices,
        crops=training_crops,
    output:
        model="results/models/final/model.pt",
        history="results/models/final/history.csv",
    log:
        "logs/train/final.log",
    benchmark:
        "logs/benchmarks/train_final/final.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: config["resources"]["train"]["threads"]
    resources:
        gpu=config["resources"]["train"]["gpu"],
    params:
        model=MODEL_SETTINGS,
        train=TRAIN_SETTINGS,
    shell:
        "python -m egfrmet train-final --folds {input.folds:q} --crops {input.crops:q}"
        " --choices {input.choices:q}"
        " --model-settings {params.model:q} --settings {params.train:q} --threads {threads}"
        " --out-model {output.model:q} --out-history {output.history:q} 2> {log:q}"
