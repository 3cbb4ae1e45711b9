"""egfrmet: EGFR status of brain metastases from post-contrast T1 MRI; one subcommand per workflow stage.

Tunable numbers come in as `--settings JSON`, the stage's section of the workflow config, so
that config/config.yaml stays the one place that holds them. Each subcommand's arguments are
declared beside the function it calls (`@command` in egfrmet.arguments); this module only
collects them, and imports a stage only when its subcommand runs (a job loads what it needs).
"""

import argparse
import importlib
import logging
import sys

from egfrmet.errors import InputError

# subcommand: "module:function" of the stage it runs
COMMANDS = {
    "synth-sheet": "egfrmet.demo.synth:write_sheet",
    "synth": "egfrmet.demo.synth:run",
    "check": "egfrmet.preprocessing.check:run",
    "dicom-mask": "egfrmet.preprocessing.dicom_mask:run",
    "bias-sequence": "egfrmet.preprocessing.sequences:run_bias",
    "normalise-sequence": "egfrmet.preprocessing.sequences:run_normalise",
    "alignment-qc": "egfrmet.preprocessing.registration:run_qc",
    "bias": "egfrmet.preprocessing.bias:run",
    "normalise": "egfrmet.preprocessing.normalise:run",
    "crop": "egfrmet.preprocessing.crop:run",
    "features": "egfrmet.baselines.features:run",
    "deep-features": "egfrmet.training.deep_features:run",
    "baseline": "egfrmet.baselines.methods:run",
    "clinical": "egfrmet.baselines.clinical:write",
    "model-card": "egfrmet.evaluation.model_card:run",
    "fusion": "egfrmet.baselines.fusion:run",
    "folds": "egfrmet.cohort.folds:run",
    "dicom-sheet": "egfrmet.cohort.dicom_sheet:run",
    "train": "egfrmet.training.train:run",
    "train-final": "egfrmet.training.final:run",
    "choose-epoch": "egfrmet.training.selection:run",
    "ensemble": "egfrmet.inference.ensemble:run",
    "evaluate": "egfrmet.evaluation.evaluate:run",
    "explain": "egfrmet.explain.gradcam:run",
    "explain-figure": "egfrmet.explain.gradcam:run_figure",
    "predict": "egfrmet.inference.predict:run",
    "deploy": "egfrmet.baselines.deploy:run",
    "bundle": "egfrmet.inference.bundle:run",
    "external": "egfrmet.evaluation.external:run",
    "summary": "egfrmet.evaluation.summary:run",
    "scan": "egfrmet.inference.scan:run",
    "weights": "egfrmet.training.weights:run",
}


def stage(target):
    module, function = target.split(":")
    return getattr(importlib.import_module(module), function)


def build_parser(names=tuple(COMMANDS)):
    """The parser of the subcommands `names` (all by default: `egfrmet --help` lists them)."""
    parser = argparse.ArgumentParser(prog="egfrmet", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="<subcommand>")
    for name in names:
        help, arguments = stage(COMMANDS[name]).command
        one = sub.add_parser(name, help=help, description=help)
        one.set_defaults(target=COMMANDS[name])
        for flags, options in arguments:
            one.add_argument(*flags, **options)
    return parser


def dispatch(args):
    """Call the stage function named by the subcommand with the parsed arguments."""
    options = {k: v for k, v in vars(args).items() if k not in ("command", "target")}
    stage(args.target)(**options)


def version():
    from egfrmet import __version__

    return f"egfrmet {__version__}"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    # only the stage asked for is imported; any other first word gets the full help
    names = argv[:1] if argv[:1] and argv[0] in COMMANDS else tuple(COMMANDS)
    args = build_parser(names).parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        dispatch(args)
    except InputError as error:
        print(f"egfrmet {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0
