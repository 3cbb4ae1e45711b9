"""The workflow config, read outside Snakemake, and the stage settings derived from it.

The rules (workflow/rules/*.smk) and `egfrmet scan` take the settings of a stage from
these functions, so that one scan is preprocessed with exactly the workflow's numbers.
"""

import copy
import json
import os
from pathlib import Path

import yaml

from egfrmet import methods
from egfrmet.config.schema import load_schema, validate_config
from egfrmet.errors import InputError
from egfrmet.io.files import file_sha256

# Only the keys the chosen method reads: changing morphology's erosion re-runs no deepbet.
BRAIN_MASK_KEYS = {"deepbet": ["device", "threshold"], "morphology": ["erode_mm"]}


def merged(base, overlay):
    """`overlay` on `base`, nested sections merged key by key (as Snakemake's --configfile)."""
    out = dict(base)
    for key, value in overlay.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def read_config(paths):
    """The config files in order, each over the ones before, checked against the schema."""
    config = {}
    for path in paths:
        if not Path(path).is_file():
            raise InputError("config file not found", path=path)
        config = merged(config, yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {})
    return checked(config)


def checked(config):
    """`config`, once it passes the schema and the checks across sections."""
    validate_config(config, load_schema("config"))
    check_config(config)
    return config


# The sheet's own columns: a declared clinical variable or sequence cannot take their names.
SHEET_COLUMNS = (
    "patient_id",
    "image",
    "series_uid",
    "mask",
    "brain_mask",
    "label",
    "split",
    "cohort",
    "center",
    "fold",
)


def check_config(config):
    """What the schema cannot say: settings that contradict each other."""
    check_inputs(config)
    train = config["train"]
    if methods.deployed(train["predict_with"]):
        if not config["fusion"]["components"]:
            raise InputError(
                f"train.predict_with {train['predict_with']}: give fusion.components (e.g. [last, radiomics])"
            )
    elif train["predict_with"] not in train["select"]:
        raise InputError(f"train.predict_with {train['predict_with']!r} is not one of train.select {train['select']}")
    if train["fine_tune"]["epochs"] and not body_frozen(config["model"], train):
        raise InputError(
            "train.fine_tune.epochs follows the frozen epochs: it needs a frozen body "
            "(pretrained weights with freeze_body auto, or freeze_body true)"
        )
    if train["final"] and not inner_trainings(config):
        raise InputError("train.final needs the inner folds' choice: put inner_cv or inner_ensemble in train.select")
    if config["folds"]["scheme"] == "centre" and config["folds"]["repeats"] > 1:
        raise InputError("folds.repeats > 1 with folds.scheme centre: leave-centre-out has one assignment")
    n4 = config["preprocess"]["n4"]
    if n4["backend"] == "ants":  # antspyx's call takes one shrink factor and fits cubic splines only
        if isinstance(n4["shrink"], list) and len(set(n4["shrink"])) > 1:
            raise InputError(
                f"preprocess.n4.shrink {n4['shrink']}: antspyx shrinks every axis by one factor; "
                "give one number, or use backend sitk"
            )
        if n4["spline_order"] != 3:
            raise InputError(
                f"preprocess.n4.spline_order {n4['spline_order']}: antspyx fits cubic B-splines only; "
                "set spline_order: 3 with backend ants, or use backend sitk"
            )
    if n4["control_points"] is not None and n4["control_points"] <= n4["spline_order"]:
        raise InputError(
            f"preprocess.n4.control_points {n4['control_points']} must exceed spline_order {n4['spline_order']}"
        )


def check_inputs(config):
    clinical, sequences = config["clinical"], config["inputs"]["sequences"]
    for name in [*clinical, *sequences]:
        if name in SHEET_COLUMNS:
            raise InputError(
                f"{name!r} is a column of the sheet itself: name the clinical variable or sequence otherwise"
            )
    both = set(clinical) & set(sequences)
    if both:
        raise InputError(f"{', '.join(sorted(both))}: both a clinical variable and an inputs.sequences column")
    registration = config["preprocess"]["registration"]
    if len(registration["shrink"]) != len(registration["smoothing_mm"]):
        raise InputError("preprocess.registration: shrink and smoothing_mm need one value per pyramid level each")
    if "clinical" in config["baselines"]["methods"] and not clinical:
        raise InputError("baselines.methods has clinical but the config declares no clinical variable (clinical: {})")
    check_fusion(config)


def check_fusion(config):
    fusion = config["fusion"]
    for name in fusion["components"]:
        if name == "last" and "last" not in config["train"]["select"]:
            raise InputError("fusion.components has last: put last in train.select")
        if name != "last" and name not in config["baselines"]["methods"]:
            raise InputError(f"fusion.components has {name}: put it in baselines.methods")
    if fusion["clinical_variables"] and not config["clinical"]:
        raise InputError(
            "fusion.clinical_variables is true but the config declares no clinical variable (clinical: {})"
        )
    if fusion["clinical_variables"] and not fusion["components"]:
        raise InputError("fusion.clinical_variables is true but fusion.components is empty")


def train_settings(config):
    """The train section as the training jobs see it: whether a final model is wanted changes
    none of them (train_final reads it from the DAG, not from this param), and fine_tune is
    absent unless it has epochs, so that runs from before it existed re-run nothing."""
    train = {k: v for k, v in config["train"].items() if k != "final"}
    if not train.get("fine_tune", {}).get("epochs"):
        train.pop("fine_tune", None)
    return train


def image_baselines(config):
    """The baselines that read image features (egfrmet.baselines.features); clinical reads the
    sheet's values, deep_features its own (egfrmet.training.deep_features)."""
    return [method for method in config["baselines"]["methods"] if method not in ("clinical", "deep_features")]


def baseline_settings(config):
    """The baselines section as their fitting steps take it: without deep_features' part
    unless it is a baseline (so that runs from before it existed keep their params)."""
    section = dict(config["baselines"])
    return section if reads_deep_features(config) else {k: v for k, v in section.items() if k != "deep_features"}


def reads_deep_features(config):
    """Whether a baseline reads the deep features (egfrmet.training.deep_features)."""
    return "deep_features" in config["baselines"]["methods"]


def deep_feature_settings(config):
    """What the deep_features rule extracts with (the body): not the fitting settings, so that
    changing how the baseline fits re-extracts nothing. A weights file comes with its SHA-256
    (new weights at the same path extract again), which must be `weights_sha256` where that is
    set (a bundle's body, restored by with_bundle)."""
    section = config["baselines"]["deep_features"]
    out = {key: section[key] for key in ("arch", "weights", "pretrained_tag")}
    path, expected = section["weights"], section.get("weights_sha256")
    digest = file_sha256(path) if path != "imagenet" and os.path.isfile(path) else None
    if expected and digest != expected:
        found = f"has SHA-256 {digest[:12]}…" if digest else "is not a weights file"
        raise InputError(
            f"baselines.deep_features.weights {path!r} {found}; the deep features must come from the file with "
            f"SHA-256 {expected[:12]}… (weights_sha256: a bundle's, or pinned): name your copy of that file there"
        )
    return out | ({"weights_sha256": digest} if digest else {})


def deep_feature_identity(config):
    """The deep features' body as a bundle locks it: the file's checksum, not its path (another
    site keeps its copy elsewhere), or the hub's weights by name."""
    settings = deep_feature_settings(config)
    return {key: value for key, value in settings.items() if key != "weights" or value == "imagenet"}


def reads_clinical(config):
    """Whether the methods read the clinical values: the clinical baseline, or the fusion's stack."""
    return "clinical" in config["baselines"]["methods"] or config["fusion"]["clinical_variables"]


def body_frozen(model, train):
    """train.freeze_body with auto resolved: frozen when the weights are pretrained."""
    frozen = train["freeze_body"]
    return model["weights"] != "none" if frozen == "auto" else frozen


def inner_trainings(config):
    """Whether each fold's training patients get inner trainings: for the leak-free
    selections, and for the network's scores that the fusion stacks."""
    select = set(config["train"]["select"])
    return bool(select & {"inner_cv", "inner_ensemble"} or "last" in config["fusion"]["components"])


def fusion_settings(config):
    """What the fusion step reads: its section, the baselines' (to refit them on inner
    folds), the network's inner folds, the slice aggregate and whether the network's `last`
    is a candidate (its inner trainings run)."""
    return {
        "fusion": config["fusion"],
        "baselines": baseline_settings(config),
        "train": {"inner": {"k": config["train"]["inner"]["k"]}, "seed": config["train"]["seed"]},
        "aggregate": config["evaluate"]["metric"],
        "network": "last" in config["train"]["select"] and inner_trainings(config),
    }


def sheet_columns(config):
    """What read_sheet needs from the config: the declared clinical variables and sequences."""
    sequences = config["inputs"]["sequences"]
    return {"clinical": config["clinical"], "sequences": sequences, "allow_missing": allows_missing(config)}


def model_settings(config):
    """The model section as every stage that builds or loads a network takes it: with further
    sequences or the lesion channel, the count of input channels (absent for the T1c alone,
    and lesion_channel absent unless true, so that runs from before either existed keep their
    params and re-run nothing)."""
    model = dict(config["model"])
    lesion = model.pop("lesion_channel", False)
    presence = len(config["inputs"]["sequences"]) if allows_missing(config) else 0
    channels = 1 + len(config["inputs"]["sequences"]) + int(lesion) + presence
    model |= {"channels": channels} if channels > 1 else {}
    model |= family_settings(model)
    return model | ({"lesion_channel": True} if lesion else {}) | ({"presence_channels": presence} if presence else {})


# Network families with a section of their own in model (egfrmet.training.networks).
FAMILY_SECTIONS = ("stack", "attention")


def family_settings(model):
    """model.family and its own section ({"family": "stack", "stack": {"neighbours": 1}}),
    popped from `model`; nothing for the paper's slices (so that runs from before families
    existed keep their params and re-run nothing)."""
    family = model.pop("family", "slices")
    sections = {name: model.pop(name, {}) for name in FAMILY_SECTIONS}
    return {} if family == "slices" else {"family": family} | {family: sections[family]}


def brain_mask_settings(config):
    section = config["preprocess"]["brain_mask"]
    return {key: section[key] for key in ["method"] + BRAIN_MASK_KEYS[section["method"]]}


def crop_settings(config):
    """The crop section plus which lesions get crops: one param, so either change re-runs crops."""
    preprocess = config["preprocess"]
    crop = preprocess["crop"] | {"lesions_mode": preprocess["lesions"], "min_lesion_mm3": preprocess["min_lesion_mm3"]}
    if crop["outside_brain"] == "keep":  # absent, as before the option existed: old crops stay
        crop = {key: value for key, value in crop.items() if key != "outside_brain"}
    return crop | further_sequences(config)


def lesion_crop_settings(config):
    """The whole-lesion crops' settings (every slice the lesion spans, with the context
    slices each side): the crop settings with extent lesion (the centre slice method unused)."""
    return crop_settings(config) | {"extent": "lesion"}


def further_sequences(config):
    """{"sequences": inputs.sequences} for the stages that read them, or nothing for the T1c
    alone (so that a run from before sequences existed keeps its params)."""
    sequences = config["inputs"]["sequences"]
    allowed = {"missing_allowed": True} if allows_missing(config) else {}
    return {"sequences": sequences} | allowed if sequences else {}


def absent_sequences(config, given):
    """{"absent": names} of the configured sequences not in `given` (the patient's, where it
    lacks some: crop and features then write their channels and features as missing); {}
    when it has them all, so that a complete patient's settings are the stage's own."""
    names = [name for name in config["inputs"]["sequences"] if name not in given]
    return {"absent": names} if names else {}


def feature_settings(config):
    """What the features rule extracts: not the fitting settings, so that changing how the
    baselines fit re-extracts nothing."""
    baselines = config["baselines"]
    extraction = ("region", "bin_width", "resampled_spacing", "feature_classes")
    radiomics = {key: baselines["radiomics"][key] for key in extraction}
    return {"radiomics": radiomics, "intensity_percentile": baselines["intensity_percentile"]} | further_sequences(
        config
    )


def inference_settings(config):
    """Device, precision and memory format: prediction computes as validation did."""
    return {k: config["train"][k] for k in ("device", "precision", "channels_last")}


def as_json(settings):
    return json.dumps(settings, sort_keys=True)


def model_card_settings(config):
    """What the model card says of the run's set-up (egfrmet.evaluation.model_card)."""
    evaluate = config["evaluate"]
    return (
        {
            "folds": config["folds"],
            "inner_k": config["train"]["inner"]["k"],
            "predict_with": config["train"]["predict_with"],
            "sequences": config["inputs"]["sequences"],
            "clinical": config["clinical"],
            "fusion": config["fusion"],
            "synthetic": config["synth"]["enabled"],
        }
        | {key: evaluate[key] for key in ("metric", "threshold", "ci_level", "bootstrap")}
        | family_settings(dict(config["model"]))
    )


# What a bundle fixes: the settings that made the inputs its models were fitted on. A run that
# scores with a bundle preprocesses with these, never with its own.
LOCKED_SECTIONS = ("inputs", "clinical", "preprocess", "features")
RUNTIME_KEYS = {("preprocess", "brain_mask", "device")}  # where it runs, not what it computes


def registration_settings(config):
    """The rigid registration's settings where inputs.register is rigid, else None."""
    return config["preprocess"]["registration"] if config["inputs"]["register"] == "rigid" else None


def allows_missing(config):
    """Whether a patient may lack a further sequence (inputs.missing: allow)."""
    return config["inputs"]["missing"] == "allow" and bool(config["inputs"]["sequences"])


def resamples(config):
    """Whether further sequences may lie off the T1c's grid (resampled or registered onto it)."""
    return config["inputs"]["resample"] or registration_settings(config) is not None


def locked_settings(config):
    """The preprocessing, sequence, clinical and feature-extraction settings of `config`
    (without registration's where nothing is registered: runs and bundles from before it
    existed keep their settings)."""
    preprocess = copy.deepcopy(config["preprocess"])
    inputs = dict(config["inputs"])
    for _, section, key in RUNTIME_KEYS:
        preprocess[section].pop(key, None)
    if registration_settings(config) is None:
        inputs.pop("register")
        preprocess.pop("registration")
    if not allows_missing(config):
        inputs.pop("missing")
    deep = {"deep_features": deep_feature_identity(config)} if reads_deep_features(config) else {}
    return {
        "inputs": inputs,
        "clinical": config["clinical"],
        "preprocess": preprocess,
        "features": feature_settings(config),
    } | deep


def differences(ours, theirs, prefix=""):
    """Dotted keys whose values differ between two nested dicts, with both values."""
    out = []
    for key in sorted(set(ours) | set(theirs)):
        a, b = ours.get(key), theirs.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append((f"{prefix}{key}", a, b))
    return out


def with_bundle(config, locked):
    """`config` whose preprocessing, sequences, clinical variables and feature extraction are
    a bundle's `locked` settings (locked_settings of its training run), and the keys where
    `config` said otherwise (dotted key, config's value, bundle's value)."""
    changed = differences(locked_settings(config), locked)
    out = copy.deepcopy(config)
    before = {"register": "none", "missing": "refuse"}  # bundles from before either existed
    out["inputs"], out["clinical"] = before | locked["inputs"], locked["clinical"]
    runtime = {key: config["preprocess"][section][key] for _, section, key in RUNTIME_KEYS}
    out["preprocess"] = {"registration": config["preprocess"]["registration"]} | copy.deepcopy(locked["preprocess"])
    for _, section, key in RUNTIME_KEYS:
        out["preprocess"][section][key] = runtime[key]
    features = locked["features"]
    out["baselines"]["radiomics"] |= features["radiomics"]
    out["baselines"]["intensity_percentile"] = features["intensity_percentile"]
    if "deep_features" in locked:  # the body its deep features came from, extracted again here
        out["baselines"]["deep_features"] |= locked["deep_features"]
        out["baselines"]["methods"] = list(dict.fromkeys([*out["baselines"]["methods"], "deep_features"]))
    return out, changed


def bundle_settings(config):
    """What the bundle rule writes into a bundle's manifest besides the fitted models."""
    predict_with = config["train"]["predict_with"]
    selection = "last" if methods.deployed(predict_with) else predict_with  # the fold models' selection
    return {
        "locked": locked_settings(config),
        "network": {
            "model": model_settings(config),
            "aggregate": config["evaluate"]["metric"],
            "inference": inference_settings(config),
            "selection": selection,
        },
        "threshold": config["predict"]["threshold"],
        "predict_with": predict_with,
        "figures_of": list(dict.fromkeys([predict_with, selection])),  # auto's own row: its honest figure
    }


# The rules whose threads (and, for training, `gpu`) come from each config.resources section.
RESOURCE_RULES = {
    "bias": ["bias", "bias_sequence"],
    "normalise": ["normalise"],
    "train": ["train", "train_inner", "train_final"],
    "predict": ["predict", "ensemble", "explain", "deep_features"],
}


def resource_overrides(config, threads, resources):
    """One line per rule where a profile or the command line (set-threads `threads`,
    set-resources `resources`) replaces what config.resources says: theirs wins, and the run
    says so instead of leaving two sources to disagree silently."""
    lines = []
    for section, rules in RESOURCE_RULES.items():
        ours = config["resources"][section]
        for rule in rules:
            theirs = {"threads": threads.get(rule)} | {"gpu": dict(resources.get(rule, {})).get("gpu")}
            for key, value in theirs.items():
                value = getattr(value, "value", value)  # Snakemake may wrap it in a Resource
                if value is not None and key in ours and str(value) != str(ours[key]):
                    lines.append(
                        f"{rule}: {key} {value} from a profile or the command line replaces "
                        f"resources.{section}.{key} {ours[key]} of the config"
                    )
    return lines
