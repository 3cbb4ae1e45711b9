# The model card (egfrmet.evaluation.model_card): the TRIPOD+AI items a run can answer, filled from
# its own summary, folds, choices and explanations.


include: "inputs/model_card.smk"


rule model_card:
    input:
        unpack(model_card_inputs),
        summary=rules.summary.output.table,
        folds="results/folds.tsv",
    output:
        report(
            "results/evaluation/model_card.md",
            caption="../report/model_card.rst",
            category="Cross-validation",
        ),
    log:
        "logs/model_card.log",
    benchmark:
        "logs/benchmarks/model_card.tsv"
    conda:
        "../../envs/torch.yaml"
    params:
        settings=MODEL_CARD_SETTINGS,
    shell:
        "python -m egfrmet model-card --summary {input.summary:q} --folds {input.folds:q}"
        " --clinical {input.clinical:q} --fusion-reports {input.reports:q}"
        " --explanations {input.explanations:q} --deployed {input.deployed:q}"
        " --settings {params.settings:q}"
        " --out {output:q} 2> {log:q}"
