# The config's and the sheet's checks, the sheet, and the constants every rule file shares;
# each input function lives in the rule file that uses it (the first, where several do).
import functools
import json
import os
import shlex
import sys
from pathlib import Path

import pandas as pd

from snakemake.settings.types import DeploymentMethod

# The Snakefile and every job import the package from this checkout, so a conda
# environment (--sdm conda) needs no install of egfrmet itself.
SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, SRC)


def python_path_prefix():
    """Rules run `python`: the interpreter that runs Snakemake (a venv's, even when it is not
    activated: `.venv/bin/snakemake`), or under --sdm conda the rule's environment's."""
    if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method:
        return ""
    # no resolve(): a venv's python is a link out of the venv
    return f"export PATH={shlex.quote(os.path.dirname(sys.executable))}:$PATH; "


# (Snakemake formats the prefix too: {{{{ }}}} in this f-string reaches bash as { }.)
shell.prefix(
    "set -euo pipefail; "
    + python_path_prefix()
    + f"export PYTHONPATH={shlex.quote(SRC)}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; "
)

from egfrmet.errors import InputError
import egfrmet.paths as paths
import egfrmet.methods as methods
import egfrmet.training.networks as networks
from egfrmet.cohort.folds import by_centre as folds_by_centre
from egfrmet.cohort.folds import of_repeat
from egfrmet.cohort.folds import repeated as repeated_folds
from egfrmet.cohort.folds import inner_folds
from egfrmet.training.selection import outer_model_selection
import egfrmet.config.settings as derived
from egfrmet.config.sheet import (
    PATH_COLUMNS,
    external_cohorts,
    prediction_rows,
    read_sheet,
    series_column,
    training_rows,
)
from egfrmet.config.schema import load_schema
from egfrmet.io.dicom import mask_kind

derived.checked(config)  # the schema, then the checks across sections
# One source per setting: where a profile or the command line sets threads or a GPU count
# that config.resources also sets, theirs wins; say so.
for line in derived.resource_overrides(
    config,
    workflow.resource_settings.overwrite_threads,
    workflow.resource_settings.overwrite_resources,
):
    print(f"egfrmet: {line}", file=sys.stderr)
# `bundle: path`: score the sheet with a locked model from a training run (its preprocessing
# settings replace the config's; checked, checksums and all, before any job).
BUNDLE = config["bundle"]
BUNDLE_MANIFEST = None
if BUNDLE:
    from egfrmet.inference.bundle import load as load_bundle

    BUNDLE_MANIFEST, _ = load_bundle(BUNDLE)
    locked, overridden = derived.with_bundle(config, BUNDLE_MANIFEST["locked"])
    config.update(locked)
    for key, ours, theirs in overridden:
        print(
            f"bundle {BUNDLE}: {key} is the bundle's {theirs!r}, not the config's {ours!r} "
            "(a bundle's preprocessing settings cannot be overridden)",
            file=sys.stderr,
        )
SHEET = read_sheet(
    config["samples"], load_schema("samples"), **derived.sheet_columns(config)
)
PATIENTS = list(SHEET.index)
# With a bundle nothing trains: every patient is scored by it.
TRAINING = [] if BUNDLE else list(training_rows(SHEET).index)
PREDICTING = PATIENTS if BUNDLE else list(prediction_rows(SHEET).index)
# ImageNet weights no training job could fetch: refused now, not after the preprocessing
# (a run that names its own targets, e.g. crops only, may not train: the training says so).
PLAN = (
    workflow.dag_settings
)  # None where Snakemake only lints (not DAG: Snakemake's own name)
WHOLE_RUN = PLAN is not None and set(PLAN.targets) <= {"all"} and not PLAN.until
if TRAINING and WHOLE_RUN and not workflow.remote_exec:
    from egfrmet.training.weights import check_available

    check_available(config["model"])
    if derived.reads_deep_features(config):
        check_available(
            derived.deep_feature_settings(config), section="baselines.deep_features"
        )
# {patient: cohort} of the labelled patients the shipped model is validated on.
EXTERNAL = external_cohorts(SHEET, every_row=bool(BUNDLE))
# Further image columns (inputs.sequences): each one crop channel after the T1c.
SEQUENCES = config["inputs"]["sequences"]
# Plain dicts: input functions run once per job, and a DataFrame lookup costs ten times more.
ROWS = SHEET.to_dict("index")


wildcard_constraints:
    patient="[A-Za-z0-9._-]+",
    fold="[0-9]+",
    # the configured sequences only (none: a pattern that matches nothing)
    sequence="|".join(SEQUENCES) or "(?!)",


def settings(*keys):
    """A config section as sorted JSON: a stable param that re-runs the rule when it changes."""
    section = config
    for key in keys:
        section = section[key]
    return json.dumps(section, sort_keys=True)


TRAIN_SETTINGS = derived.as_json(derived.train_settings(config))


MODEL = derived.model_settings(config)
MODEL_SETTINGS = derived.as_json(MODEL)


# The crops the network reads (its family's, egfrmet.training.networks: the paper's centre
# slices, or every lesion slice); with a bundle, the crops its network read.
NETWORK_MODEL = (BUNDLE_MANIFEST["network"] or {}).get("model", {}) if BUNDLE else MODEL
NETWORK_CROPS = paths.network_crops(networks.crop_extent(NETWORK_MODEL))
