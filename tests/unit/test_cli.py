"""Every subcommand's parser against the stage function it calls: a renamed argument fails
here, not in the middle of a run."""

import argparse
import importlib
import inspect

import pytest

from egfrmet import cli


def subcommands():
    parser = cli.build_parser()
    (choices,) = [action.choices for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    return sorted(choices.items())


@pytest.mark.parametrize("name, parser", subcommands(), ids=[name for name, _ in subcommands()])
def test_each_parsers_arguments_are_its_functions_parameters(name, parser):
    module, function = parser.get_default("target").split(":")
    signature = inspect.signature(getattr(importlib.import_module(module), function))
    given = {action.dest for action in parser._actions if action.dest not in ("help", "target")}
    accepted = {p.name for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD}
    needed = {p.name for p in signature.parameters.values() if p.default is p.empty and p.kind is not p.VAR_KEYWORD}
    takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    assert takes_any or given <= accepted, f"egfrmet {name}: {sorted(given - accepted)} not parameters of {function}"
    assert needed <= given, f"egfrmet {name}: {function} needs {sorted(needed - given)}, which the parser lacks"


def test_a_subcommand_imports_only_its_own_stage():
    """`egfrmet folds` builds its parser without importing the network's stages (torch)."""
    import subprocess
    import sys

    code = "import sys; from egfrmet import cli; cli.build_parser(['folds']); print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "False", result.stderr
    assert set(cli.COMMANDS) == {name for name, _ in subcommands()}
