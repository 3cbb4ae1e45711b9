# Baselines on the network's folds (docs/method.md, baselines): features once per patient (they
# re-run only for new patients), then one small fitting job per fold, trained on the fold's
# training patients only and scored on its validation patients.


include: "inputs/baselines.smk"


rule features:
    input:
        image="results/normalised/{patient}.nii.gz",
        lesion="results/normalised/{patient}_lesion.nii.gz",
        crops=paths.CROPS,
        sequences=sequence_files("normalised"),
    output:
        paths.FEATURES,
    log:
        "logs/features/{patient}.log",
    benchmark:
        "logs/benchmarks/features/{patient}.tsv"
    conda:
        "../../envs/radiomics.yaml"
    params:
        settings=with_absent(FEATURE_SETTINGS),
    shell:
        "python -m egfrmet features --patient {wildcards.patient}"
        " --image {input.image:q} --lesion {input.lesion:q} --crops {input.crops:q}"
        " --sequence-files {input.sequences:q}"
        " --settings {params.settings:q} --out {output:q} 2> {log:q}"


# A frozen pretrained body's mean features of the lesion's slices (the deep_features baseline):
# once per patient, from its whole-lesion crops.
rule deep_features:
    input:
        crops=paths.LESION_CROPS,
    output:
        paths.DEEP_FEATURES,
    log:
        "logs/deep_features/{patient}.log",
    benchmark:
        "logs/benchmarks/deep_features/{patient}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: config["resources"]["predict"]["threads"]
    params:
        settings=DEEP_FEATURE_SETTINGS,
    shell:
        "python -m egfrmet deep-features --patient {wildcards.patient} --crops {input.crops:q}"
        " --settings {params.settings:q} --threads {threads} --out {output:q} 2> {log:q}"


# A patient's clinical values from the sheet, one small file each: changing one patient's cell
# re-fits the baselines of the folds that hold that patient and nothing else. A shell job, not
# a run: block (which Snakemake runs by parsing the whole workflow again: 4-5 s a patient).
rule clinical:
    output:
        paths.CLINICAL,
    log:
        "logs/clinical/{patient}.log",
    benchmark:
        "logs/benchmarks/clinical/{patient}.tsv"
    localrule: True
    conda:
        "../../envs/torch.yaml"
    params:
        values=clinical_values,
        kinds=derived.as_json(config["clinical"]),
    shell:
        "python -m egfrmet clinical --patient {wildcards.patient} --values {params.values:q}"
        " --kinds {params.kinds:q} --out {output:q} 2> {log:q}"


rule baseline:
    input:
        unpack(fold_inputs),
        folds="results/folds.tsv",
    output:
        "results/baselines/fold{fold}.csv",
    log:
        "logs/baseline/fold{fold}.log",
    benchmark:
        "logs/benchmarks/baseline/fold{fold}.tsv"
    conda:
        "../../envs/torch.yaml"
    params:
        settings=BASELINE_SETTINGS,
    shell:
        "python -m egfrmet baseline --fold {wildcards.fold} --folds {input.folds:q}"
        " --features {input.features:q} --clinical {input.clinical:q}"
        " --settings {params.settings:q}"
        " --out {output:q} 2> {log:q}"
