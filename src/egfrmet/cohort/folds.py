"""Patient-level stratified K-fold assignment that keeps pinned folds.

Strata are (label, center). Pinned folds (the sheet's `fold` column) are kept. Every other
patient goes to the least-filled fold of its stratum; ties go to the fold with fewest patients
of its label, then fewest patients, then the lowest number. Strata are filled largest first,
patients within a stratum in an order fixed by (seed, patient_id) alone. So the assignment
is deterministic, does not depend on the sheet's row order, and adding patients never moves
a pinned one (`egfrmet folds --pin` pins the current ones).
"""

import hashlib
import logging

import pandas as pd

from egfrmet.arguments import command, optional, required
from egfrmet.errors import InputError

log = logging.getLogger(__name__)

COLUMNS = ["patient_id", "label", "center", "fold"]
# folds.tsv: each repeat's assignment; fold numbers run on across repeats (repeat r holds
# folds r*k .. r*k + k - 1), so that one number names one training everywhere.
TABLE_COLUMNS = COLUMNS + ["repeat"]


def order_key(seed, patient_id):
    return hashlib.sha256(f"{seed}:{patient_id}".encode()).hexdigest()


def assign(patients, *, k, seed):
    """Folds for `patients` (columns patient_id, label, center, fold; fold may be <NA>)."""
    table = patients[COLUMNS].copy().reset_index(drop=True)
    pinned = table.fold.notna()
    bad = table[pinned & ~table.fold.between(0, k - 1)]
    if len(bad):
        row = bad.iloc[0]
        raise InputError(
            f"pinned fold {row.fold} is not in 0..{k - 1} (folds.k = {k})", patient=row.patient_id, column="fold"
        )

    in_stratum, of_label, size = {}, {}, [0] * k
    for row in table[pinned].itertuples():
        count(in_stratum, of_label, size, row, int(row.fold))
    free = table[~pinned].copy()
    # Whole strata in turn, largest first, so that the later (smaller) strata's remainders
    # fill the folds the earlier ones left short; within a stratum a seeded order.
    free["order"] = [order_key(seed, pid) for pid in free.patient_id]
    free["stratum_size"] = free.groupby(["label", "center"]).patient_id.transform("size")
    for row in free.sort_values(
        ["stratum_size", "label", "center", "order"], ascending=[False, True, True, True]
    ).itertuples():
        stratum, label = in_stratum.get((row.label, row.center), [0] * k), of_label.get(row.label, [0] * k)
        fold = min(range(k), key=lambda f: (stratum[f], label[f], size[f], f))
        table.loc[row.Index, "fold"] = fold
        count(in_stratum, of_label, size, row, fold)
    table["fold"] = table.fold.astype(int)
    check_both_classes(table, k)
    return table.sort_values(["fold", "patient_id"]).reset_index(drop=True)


def repeated(patients, *, k, seed, repeats):
    """`repeats` independent assignments (seeds seed, seed + 1, ...); pinned folds apply to
    the first. Repeat r's folds are numbered r*k .. r*k + k - 1."""
    tables = []
    for r in range(repeats):
        unpinned = patients if r == 0 else patients.assign(fold=pd.array([pd.NA] * len(patients), dtype="Int64"))
        table = assign(unpinned, k=k, seed=seed + r)
        tables.append(table.assign(fold=table.fold + r * k, repeat=r))
    return pd.concat(tables, ignore_index=True)


def of_repeat(table, fold):
    """The rows of the repeat that `fold` belongs to (a table without repeats: all)."""
    if "repeat" not in table:
        return table
    repeat = table.repeat[table.fold == fold]
    if repeat.empty:
        raise InputError(f"fold {fold} is not in the folds table")
    return table[table.repeat == repeat.iloc[0]]


def repeat_number(table):
    """The repeat a one-repeat table (as of_repeat gives) belongs to: 0 without repeats."""
    return int(table.repeat.iloc[0]) if "repeat" in table else 0


def by_centre(patients):
    """Leave-centre-out folds: fold i holds out the i-th centre (sorted by name). Pinned
    folds do not apply. Every centre needs both classes (held out, and left to train on)."""
    table = patients[COLUMNS].copy().reset_index(drop=True)
    centres = sorted(table.center.unique())
    if len(centres) < 2:
        raise InputError(f"folds.scheme centre needs at least 2 centres; the sheet has {centres}", column="center")
    # a centre with both classes leaves both to the others too (there are at least two)
    for centre in centres:
        missing = {0, 1} - set(table.label[table.center == centre])
        if missing:
            name = "positive (label 1)" if 1 in missing else "negative (label 0)"
            raise InputError(
                f"folds.scheme centre: centre {centre!r} has no {name} patient, so held out it has no AUC; "
                "leave-centre-out needs both classes in every centre (merge it with another or use scheme stratified)",
                column="center",
            )
    table["fold"] = table.center.map({centre: i for i, centre in enumerate(centres)}).astype(int)
    return table.sort_values(["fold", "patient_id"]).reset_index(drop=True).assign(repeat=0)


def count(in_stratum, of_label, size, row, fold):
    in_stratum.setdefault((row.label, row.center), [0] * len(size))[fold] += 1
    of_label.setdefault(row.label, [0] * len(size))[fold] += 1
    size[fold] += 1


def check_both_classes(table, k):
    """Every fold needs a positive and a negative patient, or its AUC and training break."""
    for fold in range(k):
        labels = set(table.label[table.fold == fold])
        for label, name in ((1, "positive (label 1)"), (0, "negative (label 0)")):
            if label not in labels:
                have = (table.label == label).sum()
                raise InputError(
                    f"fold {fold} of {k} gets no {name} patient ({have} in the cohort"
                    + (f"; need at least {k}" if have < k else "; unpin some folds")
                    + "): lower folds.k or add patients"
                )


def read_folds(path):
    """folds.tsv as written by the folds rule."""
    return pd.read_csv(path, sep="\t", dtype={"patient_id": str, "center": str}, keep_default_na=False)


def write(table, out):
    from egfrmet.io.files import atomic_output

    with atomic_output(out) as tmp:
        table.assign(repeat=table.get("repeat", 0))[TABLE_COLUMNS].to_csv(tmp, sep="\t", index=False)


def write_records(records, out, log_path):
    """The folds rule: write the table assigned while the DAG was built, a per-fold summary to the log."""
    table = pd.DataFrame(records, columns=TABLE_COLUMNS)
    write(table, out)
    summary = table.groupby(["repeat", "fold"]).label.agg(patients="size", positives="sum")
    with open(log_path, "w", encoding="utf-8") as log_file:
        log_file.write(summary.to_string() + "\n")


@command(
    "assign patient-level stratified folds for a sample sheet (and optionally pin them into it)",
    required("--samples", "sample sheet (.tsv)"),
    required("--k", "number of folds", type=int),
    required("--seed", "seed of the assignment order", type=int),
    optional("--out", "folds table to write (.tsv)"),
    (["--pin"], {"action": "store_true", "help": "write the folds into the sheet's fold column"}),
)
def run(*, samples, k, seed, out, pin):
    """The `egfrmet folds` subcommand: folds for a sample sheet, optionally pinned into it."""
    from egfrmet.config.schema import load_schema
    from egfrmet.config.sheet import read_sheet, training_rows

    # folds need ids, labels, centres and pins only: declared columns need no config here
    sheet = read_sheet(samples, load_schema("samples"), strict=False)
    table = assign(training_rows(sheet), k=k, seed=seed)
    if out:
        write(table, out)
    if pin:
        pin_folds(samples, table)
    log.info("%d patients in %d folds: %s", len(table), k, table.groupby("fold").label.agg(["size", "sum"]).to_dict())


def pin_folds(samples, table):
    """Write the assignment into the sheet's `fold` column, keeping every other cell as is."""
    raw = pd.read_csv(samples, sep="\t", dtype=str, keep_default_na=False)
    folds = dict(zip(table.patient_id, table.fold.astype(str)))
    raw["fold"] = [folds.get(pid.strip(), old) for pid, old in zip(raw.patient_id, raw.get("fold", [""] * len(raw)))]
    raw.to_csv(samples, sep="\t", index=False)


def inner_folds(table, *, outer_fold, k, seed):
    """The outer fold's training patients (`table`: folds.tsv, of its repeat) in `k`
    stratified inner folds; the outer-validation patients are not in it at all."""
    table = of_repeat(table, outer_fold)
    outer_train = table[table.fold != outer_fold].drop(columns=["fold", "repeat"], errors="ignore").assign(fold=pd.NA)
    return assign(outer_train.astype({"fold": "Int64"}), k=k, seed=seed)
