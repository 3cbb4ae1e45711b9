# Input functions and constants of model_card.smk's rules (Snakemake's lint keeps functions
# out of files with rules).


MODEL_CARD_SETTINGS = derived.as_json(derived.model_card_settings(config))


def model_card_inputs(wildcards=None):
    """What the model card reads beyond the summary: the clinical values (missing cells), the
    fusion's reports (what auto chose) and the Grad-CAM shares, where the run has them.
    """
    explained = TRAINING and config["explain"]["enabled"]
    return {
        "clinical": (
            expand(paths.CLINICAL, patient=TRAINING) if config["clinical"] else []
        ),
        "reports": expand(
            "results/fusion/fold{fold}.json", fold=FOLDS if FUSION else []
        ),
        "explanations": ["results/evaluation/explanations.csv"] if explained else [],
        "deployed": [paths.DEPLOYED] if DEPLOYED else [],
    }
