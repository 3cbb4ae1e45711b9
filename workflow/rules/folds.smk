# Patient-level stratified folds, assigned when the workflow is parsed (common.smk) so that
# a fold without positives stops the run before any job; this rule writes them down.
# Its `run` block gets the cohort table itself (a param), which for a large cohort would
# not fit on a command line.


rule folds:
    output:
        "results/folds.tsv",
    log:
        "logs/folds.log",
    params:
        table=fold_table_records(),
    run:
        from egfrmet.folds import write_records

        write_records(params.table, output[0], log[0])
