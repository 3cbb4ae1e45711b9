"""What a subcommand's parser is made of, declared beside the stage function it calls:
`@command(help, *arguments)` over `run()` (egfrmet.cli collects them), and the arguments
several stages share. Each argument's dest is a parameter name of that function
(tests/unit/test_cli.py checks every one)."""

import argparse
import json


def command(help, *arguments):
    """Mark `function` as a subcommand's target: its help line and its arguments, each a
    (flags, add_argument options) pair."""

    def mark(function):
        function.command = (help, arguments)
        return function

    return mark


def settings(text):
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"--settings is not JSON: {error}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("--settings must be a JSON object")
    return value


PATIENT = (["--patient"], {"required": True, "help": "patient_id (for messages and logs)"})
SETTINGS = (["--settings"], {"type": settings, "required": True, "help": "the stage's config section, as JSON"})
THREADS = (["--threads"], {"type": int, "default": 1, "help": "threads (default 1)"})
MASK_LABELS = (
    ["--mask-labels"],
    {"type": int, "nargs": "*", "default": [], "help": "mask values that are lesion (default: any > 0)"},
)


def required(flag, help, **options):
    return ([flag], {"required": True, "help": help, **options})


def optional(flag, help, **options):
    return ([flag], {"default": "", "help": help, **options})


MODEL_SETTINGS = required("--model-settings", "the model config section, as JSON", type=settings)


def column_pairs(flag, value, help):
    """A repeatable option of two values: a sheet column and its `value` (as --flag COLUMN VALUE)."""
    return ([flag], {"nargs": 2, "action": "append", "default": [], "metavar": ("COLUMN", value), "help": help})


SEQUENCE = column_pairs(
    "--sequence", "PATH", "a further sequence (its sheet column and file); repeat for each, in inputs.sequences' order"
)
SEQUENCE_SERIES = column_pairs(
    "--sequence-series", "UID", "the DICOM series to read of a sequence given as a folder of several series; repeat"
)
SEQUENCE_FILES = (
    ["--sequence-files"],
    {"nargs": "*", "default": [], "help": "the normalised image of each sequence --settings names, in its order"},
)
RESAMPLE = (["--resample"], {"action": "store_true", "help": "sequences may lie off the image's grid (resampled)"})
SERIES_UID = optional("--series-uid", "DICOM series to read when the image folder holds several")
CROPS = (
    ["--crops"],
    {"nargs": "+", "required": True, "help": "the crops (.npz, each {patient}.npz) of every patient the stage reads"},
)
