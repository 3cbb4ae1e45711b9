"""Every method a run can report or ship, one record each: its kind, whether its figures are
leak-free, what its bundle entry holds and its one line for tables and the model card. The
stages ask this registry what a method is instead of testing its name.

Kinds: a network selection (which epoch or models of the folds' trainings score patients), a
baseline (fitted on the same folds), the stack of several (fusion) and the choice among them
(auto).
"""

import re
from dataclasses import dataclass

NETWORK, BASELINE, STACK, CHOICE = "network", "baseline", "stack", "choice"


@dataclass(frozen=True)
class Method:
    name: str
    kind: str
    leak_free: bool
    description: str
    bundle: str  # what the bundle holds when this method is shipped
    why_optimistic: str = ""


NETWORK_WEIGHTS = "the network's weights (safetensors), its settings, aggregate and threshold"
LINEAR = "its fitted steps as plain numbers (imputation, scaling, logistic regression)"

REGISTRY = {
    method.name: method
    for method in (
        Method(
            "best_val_accuracy",
            NETWORK,
            False,
            "network, the epoch of best validation accuracy (the paper's)",
            "the fold models: " + NETWORK_WEIGHTS,
            "the paper's selection: the validation fold chose the epoch and is then reported on",
        ),
        Method(
            "inner_cv",
            NETWORK,
            True,
            "network, the epoch the inner folds of the training patients chose",
            "the fold models: " + NETWORK_WEIGHTS,
        ),
        Method(
            "inner_ensemble",
            NETWORK,
            True,
            "network, the mean of the inner models (each at its own best inner epoch)",
            "every fold's inner models: " + NETWORK_WEIGHTS,
        ),
        Method(
            "last",
            NETWORK,
            True,
            "network, the last epoch (nothing chosen)",
            "the fold models: " + NETWORK_WEIGHTS,
        ),
        Method(
            "radiomics",
            BASELINE,
            True,
            "PyRadiomics features of every sequence, L2 logistic regression",
            LINEAR + ", the feature names",
        ),
        Method(
            "radiomics_t1c",
            BASELINE,
            True,
            "PyRadiomics features of the T1c alone, L2 logistic regression",
            LINEAR + ", the feature names",
        ),
        Method(
            "deep_features",
            BASELINE,
            True,
            "a frozen pretrained body's mean features of the lesion slices, PCA, L2 logistic regression",
            LINEAR + " and the principal components; the body's name and weights source (extracted again where used)",
        ),
        Method("volume", BASELINE, True, "lesion volume alone", LINEAR),
        Method("intensity", BASELINE, True, "one intensity percentile of the lesion alone", LINEAR),
        Method(
            "clinical",
            BASELINE,
            True,
            "the clinical variables, L2 logistic regression",
            LINEAR + ", each variable's levels and imputation value",
        ),
        Method(
            "fusion",
            STACK,
            True,
            "stack of the components' leak-free scores, L2 logistic regression",
            "each component's entry and the stack's steps as plain numbers",
        ),
        Method(
            "auto",
            CHOICE,
            True,
            "per fold, the method of best inner-CV AUC on the training patients",
            "the entry of the method it picked over every cross-validation patient",
        ),
    )
}


def of(name):
    """The record of method `name`."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown method {name!r} (known: {', '.join(REGISTRY)})") from None


def network_alone(selection):
    """The summary row name of network `selection` scored alone beside a stack that weighs it."""
    return f"network ({selection})"


def of_row(row_name):
    """The record of the method a summary row names (a method, or `network_alone`'s name)."""
    inner = re.fullmatch(r"network \((.+)\)", row_name)
    return of(inner.group(1) if inner else row_name)


def named(kind):
    """The names of every method of `kind`, in the registry's order."""
    return [name for name, method in REGISTRY.items() if method.kind == kind]


def deployed(name):
    """Whether method `name` ships as deploy's fit on every cross-validation patient (a stack
    or a choice), not as the folds' network models."""
    return of(name).kind in (STACK, CHOICE)


def optimistic():
    """{name: why} of the methods whose figures are not leak-free."""
    return {name: method.why_optimistic for name, method in REGISTRY.items() if not method.leak_free}
