"""The model bundle: what a run ships for new patients, in one folder that can leave the lab.

    results/bundle/
      manifest.json        format, version, date; the settings that made the inputs (locked);
                           the method, its components and what it needs; the network's
                           settings, slice aggregate and threshold; the training cohort and
                           its out-of-fold figures; a SHA-256 of every other file
      method.json          every fitted non-network model as plain numbers (egfrmet.baselines.plain)
      network/<name>.safetensors   the network's weights, tensors only (when the method uses it)

Nothing in it is a pickle: JSON and safetensors run no code when read. load() checks it
before anything is scored: the format version, every file's checksum, and that the run would
preprocess as the training run did (the locked settings); each refusal names what differs.
"""

import datetime
import json
import logging
import shutil
from pathlib import Path

import pandas as pd

from egfrmet import __version__, methods, paths
from egfrmet.arguments import SETTINGS, command, required
from egfrmet.baselines import deploy
from egfrmet.cohort.folds import read_folds
from egfrmet.config.settings import differences
from egfrmet.errors import InputError
from egfrmet.io.files import sha256

log = logging.getLogger(__name__)

FORMAT = "egfrmet-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
METHOD = "method.json"


def network_method(selection):
    """A network selection shipped as it is: the method is the network's probability."""
    return {"method": selection, "components": [selection], "models": {}, "stack": None, "oof_auc": {}, "network": True}


def kind(method):
    """What the shipped method is (egfrmet.methods' kinds): auto ships the kind it picked."""
    return methods.of(method["method"]).kind


def clinical_inputs(method, kinds):
    """Each clinical variable the method reads: its kind, and from the fitted models the
    training patients' levels and the value that fills a missing cell."""
    out = {name: {"kind": kind} for name, kind in kinds.items()}
    models = list(method["models"].values()) + ([method["stack"]] if method["stack"] else [])
    for model in models:
        for part in (p for step in model["steps"] if step["kind"] == "columns" for p in step["parts"]):
            steps = {step["kind"]: step for step in part["steps"]}
            for position, name in enumerate(part["columns"]):
                if name not in out or "impute" not in steps:
                    continue
                impute = steps["impute"]
                if position in impute["keep"]:
                    out[name]["imputed_with"] = impute["fill"][impute["keep"].index(position)]
                if "onehot" in steps and position in impute["keep"]:
                    out[name]["levels"] = steps["onehot"]["categories"][impute["keep"].index(position)]
    return out


def cohort_of(folds):
    first = folds[folds.repeat == folds.repeat.min()] if "repeat" in folds else folds
    centres = first.center.replace("", "(none)").value_counts().sort_index()
    return {"patients": len(first), "positive": int(first.label.sum()), "centres": centres.to_dict()}


def figures_of(summary, names, aggregate):
    """The cross-validation summary's pooled rows of `names` (out-of-fold, the run's own), a
    network's at the slice `aggregate` that scores new patients."""
    rows = summary[summary.selection.isin(names) & (summary.subset == "all")]
    rows = rows[rows["aggregate"].isin([aggregate, "patient"])]
    return json.loads(rows.to_json(orient="records"))


def figures_note(method, predict_with):
    """How the manifest's figures were selected."""
    note = "Pooled out-of-fold figures of the training run's cross-validation."
    if predict_with == "auto":
        note += (
            f" `auto` is the leak-free figure of choosing the method inside each fold; {method['method']}'s own "
            "row is optimistic, since it was shipped for being the best of the candidates on these patients."
        )
    return note


def write(*, out, method, weights, settings, folds, summary):
    """The bundle folder `out` (written beside it, then moved in place): `method` (deploy's
    fit, or network_method), `weights` {name: state dict} when the method uses the network."""
    import torch
    from safetensors.torch import save_file

    staging = Path(str(out) + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "network").mkdir(parents=True)
    (staging / METHOD).write_text(json.dumps(method, indent=1, sort_keys=True, allow_nan=False), encoding="utf-8")
    names = []
    for name, state in weights.items():
        tensors = {key: value.contiguous() for key, value in state.items() if isinstance(value, torch.Tensor)}
        save_file(tensors, str(staging / "network" / f"{name}.safetensors"), metadata={"egfrmet": __version__})
        names.append(f"network/{name}.safetensors")
    uses = deploy.needs(method)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "egfrmet_version": __version__,
        "created": datetime.date.today().isoformat(),
        "method": {
            "name": method["method"],
            "components": method["components"],
            "kind": kind(method),
            "description": methods.of(method["method"]).description,
            "holds": methods.of(method["method"]).bundle,
            "predict_with": settings["predict_with"],  # what chose it (auto: by its figures)
            "metric": settings["network"]["aggregate"],  # the network's pre-specified aggregate
        },
        "needs": uses | {"sequences": settings["locked"]["inputs"]["sequences"]},
        "clinical": clinical_inputs(method, settings["locked"]["clinical"]) if uses["clinical"] else {},
        "locked": settings["locked"],
        "network": {"models": names, **settings["network"]} if uses["network"] else None,
        "threshold": settings["threshold"],
        "cohort": cohort_of(folds),
        "figures": figures_of(summary, [method["method"], *settings["figures_of"]], settings["network"]["aggregate"]),
        "figures_note": figures_note(method, settings["predict_with"]),
        "files": {},
    }
    manifest["files"] = {str(p.relative_to(staging)): sha256(p) for p in sorted(staging.rglob("*")) if p.is_file()}
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True, allow_nan=False), encoding="utf-8")
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    return manifest


def read_manifest(folder):
    """The manifest of bundle `folder`, its format checked (no file checksums: see load)."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise InputError(f"not a model bundle: no {MANIFEST} in it", path=folder)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"the bundle's manifest is not JSON ({error})", path=path) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InputError(f"not a model bundle's manifest (format is not {FORMAT!r})", path=path)
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise InputError(
            f"bundle format version {version!r} (egfrmet {manifest.get('egfrmet_version')}); this egfrmet "
            f"({__version__}) reads version {FORMAT_VERSION}: use the egfrmet that made it, or a newer one",
            path=path,
        )
    return manifest


def verify(folder, manifest):
    """Every file the manifest lists is there with its checksum."""
    for name, digest in manifest["files"].items():
        path = Path(folder) / name
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise InputError(f"the manifest lists {name!r}, outside the bundle", path=Path(folder) / MANIFEST)
        if not path.is_file():
            raise InputError("a file the bundle's manifest lists is missing", path=path)
        if sha256(path) != digest:
            raise InputError(
                f"changed since the bundle was made (SHA-256 {sha256(path)[:12]}…, manifest {digest[:12]}…)", path=path
            )


def check_locked(manifest, locked, folder):
    """Refuse a bundle whose models were fitted on inputs preprocessed otherwise than `locked`."""
    differ = differences(locked, manifest["locked"])
    if differ:
        listing = "; ".join(f"{key}: this run {ours!r}, the bundle {theirs!r}" for key, ours, theirs in differ[:8])
        raise InputError(
            f"the bundle was made with other preprocessing settings ({listing}): its models would score "
            "inputs unlike the ones they were fitted on. Run with the bundle's settings (`bundle:` in the config "
            "sets them)",
            path=Path(folder) / MANIFEST,
        )


def load(folder, locked=None):
    """(manifest, method) of bundle `folder`, checked: format, checksums and, given `locked`
    (settings.locked_settings of the run), its preprocessing settings."""
    manifest = read_manifest(folder)
    verify(folder, manifest)
    if locked is not None:
        check_locked(manifest, locked, folder)
    method = json.loads((Path(folder) / METHOD).read_text(encoding="utf-8"))
    return manifest, method


def network_models(folder, manifest, device):
    """The bundle's network models on `device`, by name."""
    from safetensors.torch import load_file

    from egfrmet.training.networks import build

    settings = manifest["network"]["model"]
    models = {}
    for name in manifest["network"]["models"]:
        model = build({k: v for k, v in settings.items() if k != "trained_from"})
        model.load_state_dict(load_file(str(Path(folder) / name)))
        models[Path(name).stem] = model.to(device)
    return models


def check_patients(manifest, features, clinical, patients):
    """Each patient has the inputs the method reads, before anything is scored."""
    needs = manifest["needs"]
    for what, table, wanted in (
        ("features", features, needs["features"]),
        ("clinical values", clinical, needs["clinical"]),
    ):
        missing = [p for p in patients if wanted and p not in table.index]
        if missing:
            raise InputError(f"the bundle's {manifest['method']['name']} reads {what}: none for {missing[:5]}")
    columns = [name for name in manifest["clinical"] if needs["clinical"] and name not in clinical.columns]
    if columns:
        raise InputError(f"the bundle reads the clinical variables {columns}, which the patients' values lack")


@command(
    "write the model bundle: what new patients get, with the settings that made its inputs",
    (["--models"], {"nargs": "*", "default": [], "help": "the network's models (.pt) that score new patients"}),
    (["--deployed"], {"nargs": "?", "default": "", "help": "deploy's method.json (predict_with fusion or auto)"}),
    required("--summary", "the cross-validation's summary (.csv), for the bundle's out-of-fold figures"),
    required("--folds", "folds table (.tsv): the training cohort"),
    SETTINGS,
    required("--out", "the bundle folder to write"),
)
def run(*, models, deployed, summary, folds, settings, out):
    """The `egfrmet bundle` subcommand. `settings`: locked (settings.locked_settings), network
    (model, aggregate, inference, selection), threshold, predict_with, figures_of."""
    import torch

    from egfrmet.training.model import input_mode

    model = settings["network"]["model"]
    settings["network"]["model"] = model | {
        "input": input_mode(model),
        "weights": "none",
        "trained_from": model["weights"],
    }
    method = json.loads(Path(deployed).read_text(encoding="utf-8")) if deployed else None
    method = method or network_method(settings["predict_with"])
    uses = deploy.needs(method)
    weights = (
        {paths.model_name(p): torch.load(p, map_location="cpu", weights_only=True) for p in models}
        if uses["network"]
        else {}
    )
    manifest = write(
        out=out,
        method=method,
        weights=weights,
        settings=settings,
        folds=read_folds(folds),
        summary=pd.read_csv(summary),
    )
    size = sum((Path(out) / name).stat().st_size for name in manifest["files"])
    log.info(
        "bundle %s: %s (%s), %d network models, %.1f MB", out, method["method"], kind(method), len(weights), size / 1e6
    )
