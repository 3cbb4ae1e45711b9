"""Where the workflow keeps its models, for the rules and for `egfrmet scan`, which finds
them after a run: one layout, so that the two never disagree."""

FOLD_MODEL = "results/models/fold{fold}/model.pt"
INNER_MODEL = "results/models/fold{fold}/inner{inner}/model.pt"
DEPLOYED = "results/models/deployed.pkl"  # rule deploy's fitted method (predict_with fusion or auto)


def prediction_models(predict_with):
    """The template of the models that score new patients: every fold's inner models for
    inner_ensemble, else each fold's model.pt (for fusion and auto, the network they weigh)."""
    return INNER_MODEL if predict_with == "inner_ensemble" else FOLD_MODEL
