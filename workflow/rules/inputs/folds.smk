# Input functions and constants of folds.smk's rules (Snakemake's lint keeps functions
# out of files with rules).


@functools.cache
def fold_table():
    """Folds assigned from the sheet; a fold without positives is an error naming it."""
    try:
        if config["folds"]["scheme"] == "centre":
            return folds_by_centre(training_rows(SHEET))
        return repeated_folds(
            training_rows(SHEET),
            k=config["folds"]["k"],
            seed=config["folds"]["seed"],
            repeats=config["folds"]["repeats"],
        )
    except InputError as error:
        raise error.about(path=config["samples"]) from None


FOLDS = list(
    range(
        fold_table().fold.nunique()
        if config["folds"]["scheme"] == "centre" and TRAINING
        else config["folds"]["k"] * config["folds"]["repeats"]
    )
)


def fold_check(wildcards):
    """The folds rule's (empty) input: assigning folds (and inner folds) while the DAG is
    built stops a run that needs them before any job, and leaves preprocessing runs alone.
    """
    table = fold_table()
    for fold in FOLDS if INNER_FOLDS else []:
        try:
            inner_folds(
                table, outer_fold=fold, k=len(INNER_FOLDS), seed=config["train"]["seed"]
            )
        except InputError as error:
            raise error.about(path=config["samples"]).prefixed(
                f"training patients of fold {fold} (train.inner.k = {len(INNER_FOLDS)}): "
            ) from None
    return []


def fold_table_records(wildcards):
    """The fold assignment as sorted records: the folds rule's param and its whole input."""
    return fold_table().astype({"label": int}).to_dict("records")
