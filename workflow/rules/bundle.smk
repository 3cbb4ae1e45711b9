# The model bundle (egfrmet.inference.bundle): what new patients get — the network's weights
# when the shipped method weighs it, every other fitted model as plain numbers — with the
# settings that made its inputs, the training cohort and its out-of-fold figures. predict
# scores with it; copied elsewhere, it scores another hospital's patients (config `bundle:`).


include: "inputs/bundle.smk"


rule bundle:
    input:
        unpack(bundle_inputs),
        summary=rules.evaluate.output.cross_validation,
        folds="results/folds.tsv",
    output:
        directory(paths.BUNDLE),
    log:
        "logs/bundle.log",
    benchmark:
        "logs/benchmarks/bundle.tsv"
    conda:
        "../../envs/torch.yaml"
    params:
        settings=BUNDLE_SETTINGS,
    shell:
        "python -m egfrmet bundle --models {input.models:q} --deployed {input.deployed:q}"
        " --summary {input.summary:q} --folds {input.folds:q} --settings {params.settings:q}"
        " --out {output:q} 2> {log:q}"
