"""The documentation is executed: every relative link and anchor resolves, every config
snippet and `--config` value passes the schema and the config's own checks, every
`egfrmet` command uses a subcommand and flags its parser knows, every `snakemake` flag is
Snakemake's, and every `results/...` path is one the rules write. (Each `snakemake` command
is dry-run on the tiny cohort in tests/workflow/test_docs_commands.py, and the SLURM job
table checked against a dry run in tests/workflow/test_docs_jobs.py.)"""

import argparse
import fnmatch
import functools
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO
from doctext import DOCS, FENCE, blocks, is_snakemake, name, printed_yaml, shell_commands, words
from egfrmet import cli, paths
from egfrmet.config.settings import checked, merged, read_config

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading):
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path):
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return {slug(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}


@pytest.mark.parametrize("doc", DOCS, ids=name)
def test_every_relative_link_and_anchor_resolves(doc):
    broken = []
    for target in LINK.findall(FENCE.sub("", doc.read_text(encoding="utf-8"))):
        if re.match(r"[a-z]+:", target):
            continue  # a web address
        file, _, anchor = target.partition("#")
        linked = (doc.parent / file).resolve() if file else doc
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading with that anchor in {name(linked)}")
    assert not broken, f"{name(doc)}:\n" + "\n".join(broken)


@functools.cache
def defaults():
    return read_config([REPO / "config" / "config.yaml"])


def check_overlay(overlay):
    checked(merged(defaults(), overlay))  # merged copies what it changes: the cache stays


def config_values(command):
    """{key: value} of each `--config key=value` word, read as Snakemake reads them (YAML)."""
    found, taking = {}, False
    for word in words(command):
        if word.startswith("-"):
            taking = word == "--config"
        elif taking and "=" in word:
            key, value = word.split("=", 1)
            found[key] = yaml.safe_load(value)
    return found


@pytest.mark.parametrize("doc", DOCS, ids=name)
def test_every_config_snippet_and_config_value_passes_the_schema(doc):
    overlays = [
        (f"yaml block {i}", yaml.safe_load(text)) for i, (lang, text) in enumerate(blocks(doc)) if lang == "yaml"
    ]
    for command in shell_commands(doc):
        values = config_values(command)
        if values:
            overlays.append((command, values))
        if printed_yaml(command):
            overlays.append((command, printed_yaml(command)[1]))
    problems = []
    for where, overlay in overlays:
        if not isinstance(overlay, dict) or not overlay.keys() <= defaults().keys():
            continue  # a sheet, a profile or another file's YAML
        try:
            check_overlay(overlay)
        except Exception as error:  # noqa: BLE001 (the schema's and the checks' errors alike)
            problems.append(f"{where}: {error}")
    assert not problems, f"{name(doc)}:\n" + "\n".join(problems)


@functools.cache
def parsers():
    """{subcommand: its argparse parser}, from the CLI's own table."""
    parser = cli.build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def egfrmet_words(command):
    """The words after `egfrmet` (as `egfrmet`, `.venv/bin/egfrmet` or `python -m egfrmet`)."""
    listed = words(command)
    for i, word in enumerate(listed):
        if word.rsplit("/", 1)[-1] == "egfrmet":
            return listed[i + 1 :]
    return None


@pytest.mark.parametrize("doc", DOCS, ids=name)
def test_every_egfrmet_command_names_a_subcommand_and_its_flags(doc):
    problems = []
    for command in shell_commands(doc):
        rest = egfrmet_words(command)
        if rest is None or not rest or rest[0].startswith(("-", "<")):
            continue  # egfrmet --help, or a placeholder
        subcommand, flags = rest[0], [w.split("=")[0] for w in rest[1:] if w.startswith("--")]
        if subcommand not in cli.COMMANDS:
            problems.append(f"{command}: no subcommand {subcommand!r}")
            continue
        known = {s for action in parsers()[subcommand]._actions for s in action.option_strings}
        problems += [f"{command}: {subcommand} has no flag {flag}" for flag in flags if flag not in known]
    assert not problems, f"{name(doc)}:\n" + "\n".join(problems)


@functools.cache
def snakemake_flags():
    help_text = subprocess.run(
        [sys.executable, "-m", "snakemake", "--help"], capture_output=True, text=True, check=True
    ).stdout
    return set(re.findall(r"(--[a-z][a-z0-9-]*)", help_text))


@pytest.mark.parametrize("doc", DOCS, ids=name)
def test_every_snakemake_flag_is_snakemakes(doc):
    problems = []
    for command in shell_commands(doc):
        listed = words(command)
        if not any(is_snakemake(w) for w in listed):
            continue
        flags = {w.split("=")[0] for w in listed if w.startswith("--")}
        problems += [f"{command}: snakemake has no flag {flag}" for flag in sorted(flags - snakemake_flags())]
    assert not problems, f"{name(doc)}:\n" + "\n".join(problems)


@functools.cache
def written_templates():
    """Every results/ path template the rules and egfrmet.paths name, {wildcards} as *."""
    texts = [p.read_text(encoding="utf-8") for p in (REPO / "workflow").rglob("*.smk")]
    texts.append(Path(paths.__file__).read_text(encoding="utf-8"))
    found = set()
    for text in texts:
        found |= set(re.findall(r"(results/[\w{}./*-]+)", text))
    return {re.sub(r"\{[^}]*\}", "*", template) for template in found}


def written(path):
    """Whether the rules write `path` (a file, a template or a folder) or something under it."""
    path = re.sub(r"\{[^}]*\}|<[^>]*>", "*", path)
    for template in written_templates():
        if fnmatch.fnmatch(template, path) or fnmatch.fnmatch(path, template):
            return True
        if template.startswith(path.rstrip("/") + "/") or path.startswith(template.rstrip("/") + "/"):
            return True
        if template.endswith(".{ext}") or template.endswith(".*"):
            if fnmatch.fnmatch(path, template.rsplit(".", 1)[0] + ".*"):
                return True
    return False


@pytest.mark.parametrize("doc", DOCS, ids=name)
def test_every_results_path_is_one_the_rules_write(doc):
    text = doc.read_text(encoding="utf-8")
    mentioned = set(re.findall(r"`(results/[^`\s]*)`", text))
    unknown = sorted(path for path in mentioned if not written(path))
    assert not unknown, f"{name(doc)} names paths no rule writes:\n" + "\n".join(unknown)


def test_the_checks_find_what_they_look_for():
    """The scanners would pass vacuously if they read nothing: a known snippet of each kind."""
    assert any("snakemake --cores all" in c for c in shell_commands(REPO / "README.md"))
    assert config_values('snakemake --config "train={epochs: 10, select: last}"') == {
        "train": {"epochs": 10, "select": "last"}
    }
    with pytest.raises(Exception, match="select"):
        check_overlay({"train": {"epochs": 10, "select": "last"}})  # the example config/README.md had
    assert egfrmet_words(".venv/bin/egfrmet scan --image a.nii.gz")[:2] == ["scan", "--image"]
    assert slug("Use a colleague's model") == "use-a-colleagues-model"
    assert "use-a-colleagues-model" in anchors(REPO / "docs" / "running.md")
    assert written("results/crops/{patient}.npz") and not written("results/nowhere.csv")
