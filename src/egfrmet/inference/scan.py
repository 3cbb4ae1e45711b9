"""One new scan, scored from the command line: the workflow's own preprocessing (check, N4,
brain mask and z-score, crops), then a model bundle (egfrmet.inference.bundle: the run's
results/bundle by default, or one from elsewhere), whose preprocessing settings replace the
config's. No Snakemake, no sample sheet. Where the bundle's method reads them, the scan also
gets its radiomics features and clinical values (`--clinical name=value`). With `--models`,
network model files score it instead, with the config's settings.

    egfrmet scan --image t1.nii.gz --mask lesion.nii.gz --out scan.csv \
        [--series-uid UID] [--brain-mask brain.nii.gz] [--configfile config/config.yaml mine.yaml] \
        [--bundle DIR | --models ...] [--clinical age=64 sex=F smoking=]
"""

import logging
import os
import shutil
import tempfile
from pathlib import Path

from egfrmet import paths
from egfrmet.arguments import SEQUENCE, SEQUENCE_SERIES, SERIES_UID, THREADS, command, optional, required
from egfrmet.baselines import clinical, features
from egfrmet.baselines import methods as baselines
from egfrmet.config.settings import (
    absent_sequences,
    allows_missing,
    brain_mask_settings,
    crop_settings,
    deep_feature_settings,
    feature_settings,
    inference_settings,
    lesion_crop_settings,
    model_settings,
    read_config,
    registration_settings,
    resamples,
    with_bundle,
)
from egfrmet.errors import InputError
from egfrmet.inference import bundle as bundles
from egfrmet.inference.predict import description, score, score_with_bundle
from egfrmet.io.files import atomic_output, crop_files
from egfrmet.paths import BUNDLE
from egfrmet.preprocessing import bias, check, crop, dicom_mask, normalise, sequences
from egfrmet.training import deep_features as deep
from egfrmet.training.networks import crop_extent
from egfrmet.training.runtime import set_up

log = logging.getLogger(__name__)


def preprocess(
    patient, *, image, mask, brain_mask, config, folder, threads, sequence=(), series_uids=None, extents=("middle",)
):
    """The workflow's preprocessing of one patient into `folder`: crops/<patient>.npz, qc.png
    and, with "lesion" among `extents`, the whole-lesion crops crops_lesion/<patient>.npz.
    `sequence`: (name, path) of each further sequence, in inputs.sequences' order;
    `series_uids`: {image column: DICOM series} for folders of several series. Returns
    the crops files by extent ({"middle": path, ...}) and the normalised images (`image`,
    `lesion`, `sequences`)."""
    preprocess_settings = config["preprocess"]
    folder = Path(folder)
    tolerance, resample = preprocess_settings["grid_tolerance"], resamples(config)
    register = registration_settings(config)
    series_uids = series_uids or {}
    uid = series_uids.get("image", "")
    lacking = absent_sequences(config, [name for name, _ in sequence])
    mask, brain_mask = (
        dicom_mask.as_mask_file(
            patient, column, path, image=image, series_uid=uid, roi=config["dicom"][f"{column}_roi"], folder=folder
        )
        for column, path in (("mask", mask), ("brain_mask", brain_mask))
    )
    check.run(
        patient,
        image=image,
        series_uid=uid,
        sequence_series=[(name, series_uids[name]) for name, _ in sequence if series_uids.get(name)],
        mask=mask,
        brain_mask=brain_mask,
        mask_labels=preprocess_settings["mask_labels"],
        grid_tolerance=tolerance,
        settings=config["check"],
        out=str(folder / "check.json"),
        sequence=sequence,
        resample=resample,
    )
    corrected = str(folder / "bias.nii.gz")
    bias.run(patient, image=image, series_uid=uid, out=corrected, settings=preprocess_settings["n4"], threads=threads)
    for name, path in sequence:
        sequences.run_bias(
            patient,
            sequence=name,
            image=path,
            series_uid=series_uids.get(name, ""),
            reference=corrected if register else image,  # as the workflow's bias_sequence
            reference_series_uid="" if register else uid,
            register=register,
            resample=resample,
            grid_tolerance=tolerance,
            settings=preprocess_settings["n4"],
            threads=threads,
            out=str(folder / f"bias_{name}.nii.gz"),
        )
    normalised = {name: str(folder / f"normalised{name}") for name in ("", "_brain", "_lesion", ".json")}
    normalise.run(
        patient,
        image=corrected,
        mask=mask,
        brain_mask=brain_mask,
        mask_labels=preprocess_settings["mask_labels"],
        lesion_ids=preprocess_settings["lesion_ids"],
        settings={} if brain_mask else brain_mask_settings(config),
        threads=threads,
        out=normalised[""] + ".nii.gz",
        out_brain=normalised["_brain"] + ".nii.gz",
        out_lesion=normalised["_lesion"] + ".nii.gz",
        out_json=normalised[".json"],
    )
    normalised_sequences = [(name, str(folder / f"normalised_{name}.nii.gz")) for name, _ in sequence]
    for name, out in normalised_sequences:
        brain = normalised["_brain"] + ".nii.gz"
        sequences.run_normalise(patient, sequence=name, image=str(folder / f"bias_{name}.nii.gz"), brain=brain, out=out)
    crops = {}
    for extent in dict.fromkeys(["middle", *extents]):  # the paper's crops always: features read them
        crops[extent] = folder / Path(paths.network_crops(extent).format(patient=patient)).relative_to("results")
        settings = crop_settings(config) if extent == "middle" else lesion_crop_settings(config)
        crop.run(
            patient,
            image=normalised[""] + ".nii.gz",
            lesion=normalised["_lesion"] + ".nii.gz",
            brain=normalised["_brain"] + ".nii.gz",
            summary=normalised[".json"],
            settings=settings | lacking,
            out=str(crops[extent]),
            qc=str(folder / ("qc.png" if extent == "middle" else f"qc_{extent}.png")),
            sequence_files=[path for _, path in normalised_sequences],
        )
    images = {
        "image": normalised[""] + ".nii.gz",
        "lesion": normalised["_lesion"] + ".nii.gz",
        "absent": lacking,
    }
    return crops, images | {"sequences": [path for _, path in normalised_sequences]}


def clinical_values(pairs, kinds):
    """{variable: text} from `--clinical name=value` pairs: every configured variable named
    (an empty value is a missing one, imputed as in training), no other."""
    values = dict(pair.partition("=")[::2] for pair in pairs)
    bad = [pair for pair in pairs if "=" not in pair]
    unknown, missing = sorted(set(values) - set(kinds)), [name for name in kinds if name not in values]
    named = {"not name=value": bad, "unknown": unknown, "not given": missing}
    problems = [f"{what}: {', '.join(names)}" for what, names in named.items() if names]
    if problems:
        raise InputError(
            f"--clinical takes name=value for each of the config's clinical variables {list(kinds)} "
            f"(name= for a missing value); {'; '.join(problems)}"
        )
    return values


def bundle_inputs(patient, config, folder, crops, images, clinical_pairs, needs, threads=1):
    """The scan's features (.csv: radiomics and the rest, deep features) and clinical values
    (.json), as the workflow's rules write them, where the bundle's method reads them: as
    tables. `crops`: the crops files by extent (preprocess')."""
    folder = Path(folder)
    values, written = clinical.read([])[0], []
    if needs["features"]:
        features.run(
            patient,
            image=images["image"],
            lesion=images["lesion"],
            crops=str(crops["middle"]),
            settings=feature_settings(config) | images["absent"],
            out=str(folder / "features.csv"),
            sequence_files=images["sequences"],
        )
        written.append(str(folder / "features.csv"))
    if needs.get("deep_features"):  # bundles from before deep features lack the key
        out = str(folder / "deep_features.csv")
        deep.run(patient, crops=str(crops["lesion"]), settings=deep_feature_settings(config), out=out, threads=threads)
        written.append(out)
    table = baselines.read_features(written)
    if needs["clinical"]:
        clinical.write(patient, values=clinical_pairs, kinds=config["clinical"], out=str(folder / "clinical.json"))
        values = clinical.read([str(folder / "clinical.json")])[0]
    return table, values


def bundle_config(config, folder):
    """(config with the bundle's locked settings, manifest, method): what the bundle was
    trained on decides how the scan is preprocessed; each key the config said otherwise is
    logged."""
    manifest, method = bundles.load(folder)
    config, overridden = with_bundle(config, manifest["locked"])
    for key, ours, theirs in overridden:
        log.warning("bundle %s: %s is the bundle's %r, not the config's %r", folder, key, theirs, ours)
    return config, manifest, method


@command(
    "score one new scan and lesion mask with a model bundle (or model files): the workflow's preprocessing",
    required("--image", "post-contrast T1 (NIfTI, or a DICOM folder)"),
    SERIES_UID,
    required("--mask", "lesion mask on the image's grid, or an RTSTRUCT or SEG drawn on its series (dicom.mask_roi)"),
    optional("--brain-mask", "brain mask (default: computed as preprocess.brain_mask says), or an RTSTRUCT or SEG"),
    (["--patient"], {"default": "scan", "help": "a name for messages and the output (default: scan)"}),
    (
        ["--configfile"],
        {
            "nargs": "+",
            "default": ["config/config.yaml"],
            "help": "the workflow's config files, later ones over earlier (default: config/config.yaml); "
            "a bundle's preprocessing settings replace theirs",
        },
    ),
    optional("--bundle", f"a model bundle (default: {BUNDLE}, the run's own, unless --models)"),
    (
        ["--models"],
        {
            "nargs": "*",
            "default": [],
            "help": "network models (.pt) to score with instead of a bundle (the config's settings)",
        },
    ),
    SEQUENCE,
    SEQUENCE_SERIES,
    (
        ["--clinical"],
        {
            "nargs": "*",
            "default": [],
            "metavar": "NAME=VALUE",
            "help": "each clinical variable the bundle reads (NAME= when missing)",
        },
    ),
    THREADS,
    required("--out", "prediction to write (.csv)"),
    optional("--qc", "QC picture of the crops to write (.png)"),
)
def run(
    *,
    image,
    mask,
    brain_mask,
    patient,
    configfile,
    threads,
    out,
    qc,
    bundle="",
    models=(),
    sequence=(),
    clinical=(),
    series_uid="",
    sequence_series=(),
):
    """The `egfrmet scan` subcommand. `sequence`: (name, path) of each of inputs.sequences;
    `clinical`: name=value of each clinical variable the bundle reads; `series_uid` and
    `sequence_series`: the DICOM series of the image and of sequences read from folders."""
    set_up(threads)
    config = read_config(configfile)
    manifest = method = None
    if not models:
        bundle = bundle or BUNDLE
        if not os.path.isdir(bundle):
            raise InputError(
                "no model bundle: run the workflow first (it writes results/bundle), give --bundle, or "
                "--models results/models/fold*/model.pt to score with the network alone",
                path=bundle,
            )
        config, manifest, method = bundle_config(config, bundle)
    missing = [path for path in models if not os.path.isfile(path)]
    if missing:
        raise InputError("model file not found", path=missing[0])
    sequence = [tuple(pair) for pair in sequence]
    wanted = config["inputs"]["sequences"]
    given = [name for name, _ in sequence]
    lacking = allows_missing(config) and given == [name for name in wanted if name in given]
    if given != wanted and not lacking:
        given = [name for name, _ in sequence]
        raise InputError(
            f"the models take the sequences {wanted} (inputs.sequences) after the image: give "
            f"{' '.join(f'--sequence {name} PATH' for name in wanted) or 'no --sequence'} (given: {given}; "
            "with inputs.missing: allow, a sequence may be left out)"
        )
    values = clinical_values(clinical, config["clinical"]) if manifest and manifest["needs"]["clinical"] else {}
    network = manifest["network"]["model"] if manifest and manifest["network"] else model_settings(config)
    extent = crop_extent(network)  # the crops the network reads (its family's)
    deep_needed = bool(manifest and manifest["needs"].get("deep_features"))
    with tempfile.TemporaryDirectory(prefix="egfrmet-scan-") as folder:
        crops, images = preprocess(
            patient,
            image=image,
            mask=mask,
            brain_mask=brain_mask,
            config=config,
            folder=folder,
            threads=threads,
            sequence=sequence,
            series_uids={"image": series_uid} | dict(map(tuple, sequence_series)),
            extents=[extent] + (["lesion"] if deep_needed else []),
        )
        if manifest:
            table_features, table_clinical = bundle_inputs(
                patient, config, folder, crops, images, values, manifest["needs"], threads
            )
            table = score_with_bundle(
                bundle,
                manifest,
                method,
                crops=crop_files([crops[extent]]),
                features=table_features,
                clinical=table_clinical,
                patients=[patient],
                batch_size=config["predict"]["batch_size"],
                inference=inference_settings(config),
            )
            source, threshold = f"{description(manifest)}, bundle {bundle}", manifest["threshold"]
        else:
            threshold = config["predict"]["threshold"]
            table = score(
                models,
                crop_files([crops[extent]]),
                [patient],
                model_settings=model_settings(config),
                aggregate=config["evaluate"]["metric"],
                threshold=threshold,
                batch_size=config["predict"]["batch_size"],
                inference=inference_settings(config),
            )
            source = f"{len(models)} model{'s' * (len(models) > 1)} (--models)"
        if qc:
            with atomic_output(qc) as tmp:
                shutil.copyfile(Path(folder) / "qc.png", tmp)
    table.insert(3, "models", source)
    table.insert(4, "image", image)
    with atomic_output(out) as tmp:
        table.to_csv(tmp, index=False)
    log.info("%s: EGFR-mutant probability %.3f (threshold %s)\n%s", patient, table.probability[0], threshold, table)
    return table
