# Patient-level stratified folds, assigned while the DAG is built (fold_check, below) so
# that a fold without positives stops a run that trains before any job; this rule writes them.
# Its `run` block gets the cohort table itself (a param), which for a large cohort would
# not fit on a command line. Local: on a cluster, a job of its own would wait in the queue
# to write a table the DAG already holds.


include: "inputs/folds.smk"


localrules:
    folds,


rule folds:
    input:
        fold_check,
    output:
        "results/folds.tsv",
    log:
        "logs/folds.log",
    benchmark:
        "logs/benchmarks/folds.tsv"
    params:
        table=fold_table_records,
    run:
        from egfrmet.cohort.folds import write_records

        write_records(params.table, output[0], log[0])
