# The fused model and the leak-free choice of method (egfrmet.baselines.fusion): one small job per
# fold, fitted on the fold's training patients only (the network's inner trainings score
# them; the baselines are refitted on the same inner folds) and scoring its validation ones.


include: "inputs/fusion.smk"


rule fusion:
    input:
        unpack(fusion_inputs),
        unpack(fusion_network),
        folds="results/folds.tsv",
    output:
        scores="results/fusion/fold{fold}.csv",
        report="results/fusion/fold{fold}.json",
    log:
        "logs/fusion/fold{fold}.log",
    benchmark:
        "logs/benchmarks/fusion/fold{fold}.tsv"
    conda:
        "../../envs/torch.yaml"
    params:
        settings=derived.as_json(FUSION_SETTINGS),
    shell:
        "python -m egfrmet fusion --fold {wildcards.fold} --folds {input.folds:q}"
        " --outer-slices {input.outer:q} --inner-slices {input.inner:q}"
        " --baseline-scores {input.baselines:q}"
        " --features {input.features:q} --clinical {input.clinical:q}"
        " --settings {params.settings:q}"
        " --out {output.scores:q} --out-report {output.report:q} 2> {log:q}"


# predict_with fusion or auto: what new patients get, fitted on every cross-validation patient
# once the cross-validation has measured every method (evaluate's out-of-fold scores).
rule deploy:
    input:
        unpack(deploy_inputs),
        scores=rules.evaluate.output.scores,
    output:
        paths.DEPLOYED,
    log:
        "logs/deploy.log",
    benchmark:
        "logs/benchmarks/deploy.tsv"
    conda:
        "../../envs/torch.yaml"
    params:
        settings=derived.as_json(FUSION_SETTINGS),
        predict_with=config["train"]["predict_with"],
    shell:
        "python -m egfrmet deploy --patient-scores {input.scores:q}"
        " --features {input.features:q} --clinical {input.clinical:q}"
        " --settings {params.settings:q} --predict-with {params.predict_with}"
        " --out {output:q} 2> {log:q}"
