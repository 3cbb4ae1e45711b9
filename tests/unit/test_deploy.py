"""What new patients get with predict_with fusion or auto: fitted on every cross-validation
patient, applied to patients none of it saw."""

import json

import numpy as np
import pandas as pd
import pytest
from test_fusion import cohort, run_folds, settings

from egfrmet.baselines import deploy, plain


def patient_scores(scores):
    """evaluate's patient_scores.csv shape: one-score methods in `patient`."""
    return scores.rename(columns={"probability": "patient"})[["selection", "patient_id", "label", "fold", "patient"]]


def test_auto_picks_the_best_out_of_fold_method_and_fusion_refits_its_stack_on_everyone():
    features, table, _ = cohort(n=120)
    config = settings(["intensity", "radiomics"], ["intensity", "radiomics", "volume"])
    scores, _, aucs = run_folds(features, table, config)
    oof = patient_scores(scores)
    clinical = pd.DataFrame(index=features.index)
    auto = deploy.fit(
        patient_scores=oof, features=features, clinical=clinical, kinds={}, settings=config, predict_with="auto"
    )
    candidates = ["intensity", "radiomics", "volume", "fusion"]
    assert auto["oof_auc"] == pytest.approx({m: aucs[m] for m in candidates})
    assert auto["method"] == max(candidates, key=aucs.get)
    fused = deploy.fit(
        patient_scores=oof, features=features, clinical=clinical, kinds={}, settings=config, predict_with="fusion"
    )
    assert fused["components"] == ["intensity", "radiomics"] and set(fused["models"]) == {"intensity", "radiomics"}
    assert json.loads(json.dumps(fused, allow_nan=False)) == fused  # plain numbers and names: JSON as it is
    new, _, _ = cohort(n=40, seed=9)  # patients none of it saw
    probability = deploy.apply(
        fused, network=None, features=new, clinical=pd.DataFrame(index=new.index), patients=list(new.index)
    )
    assert probability.shape == (40,) and np.all((probability > 0) & (probability < 1))
    # the stack weighs both components: each alone ranks the new patients otherwise
    alone = plain.apply(fused["models"]["intensity"], new)
    assert not np.allclose(np.argsort(probability), np.argsort(alone))
