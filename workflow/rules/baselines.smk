# Baselines on the network's folds (README, "Baselines"): features once per patient (they
# re-run only for new patients), then one small fitting job per fold, trained on the fold's
# training patients only and scored on its validation patients.


rule features:
    input:
        image="results/normalised/{patient}.nii.gz",
        lesion="results/normalised/{patient}_lesion.nii.gz",
        crops="results/crops/{patient}.npz",
    output:
        "results/features/{patient}.csv",
    log:
        "logs/features/{patient}.log",
    conda:
        "../../envs/radiomics.yaml"
    params:
        settings=FEATURE_SETTINGS,
    shell:
        "python -m egfrmet features --patient {wildcards.patient}"
        " --image {input.image:q} --lesion {input.lesion:q} --crops {input.crops:q}"
        " --settings {params.settings:q} --out {output:q} 2> {log:q}"


rule baseline:
    input:
        folds="results/folds.tsv",
        features=fold_features,
    output:
        "results/baselines/fold{fold}.csv",
    log:
        "logs/baseline/fold{fold}.log",
    conda:
        "../../envs/torch.yaml"
    params:
        settings=settings("baselines"),
    shell:
        "python -m egfrmet baseline --fold {wildcards.fold} --folds {input.folds:q}"
        " --features {input.features:q} --settings {params.settings:q}"
        " --out {output:q} 2> {log:q}"
