# Input functions and constants of model_card.smk's rules (Snakemake's lint keeps functions
# out of files with rules).


# with inputs.missing: allow, how many cross-validation patients lack each sequence
MODEL_CARD_SETTINGS = derived.as_json(
    derived.model_card_settings(config)
    | (
        {
            "lacking": {
                name: sum(not ROWS[p][name] for p in TRAINING) for name in SEQUENCES
            }
        }
        if derived.allows_missing(config)
        else {}
    )
)


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
