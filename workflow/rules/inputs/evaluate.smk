# Input functions and constants of evaluate.smk's rules (Snakemake's lint keeps functions
# out of files with rules).


def validation_slices(wildcards=None):
    """Every fold's validation slice probabilities: the outer training's selections and,
    with inner_ensemble, the inner models' mean."""
    names = ["val_slices"] + (["inner_ensemble_slices"] if ENSEMBLE else [])
    return expand("results/models/fold{fold}/{name}.csv", fold=FOLDS, name=names)


def held_out_option(wildcards=None):
    """Under leave-centre-out, the centre each fold holds out, for per-centre summary rows."""
    if config["folds"]["scheme"] != "centre":
        return ""
    table = fold_table()
    centres = {str(f): f"centre {c}" for f, c in zip(table.fold, table.center)}
    return f"--held-out {shlex.quote(json.dumps(centres, sort_keys=True))}"


def baseline_scores(wildcards=None):
    """Every fold's one-score-per-patient methods: the baselines, and the fusion's rows."""
    base = expand("results/baselines/fold{fold}.csv", fold=FOLDS) if BASELINES else []
    return base + expand("results/fusion/fold{fold}.csv", fold=FOLDS if FUSION else [])
