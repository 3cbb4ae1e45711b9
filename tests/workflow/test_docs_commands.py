"""Every `snakemake` command the documentation shows runs: each is dry-run on the tiny
cohort, in a folder laid out as the docs assume (a clone's config/, resources/ and
workflow/ beside the user's files, and the config files the docs' `printf` lines write),
with the docs' placeholders for a user's files standing for the tiny cohort's and the tiny
run's bundle."""

import re

import pytest
import yaml

from conftest import REPO, run_snakemake, tiny_cohort
from doctext import DOCS, is_snakemake, name, printed_yaml, shell_commands, words

pytestmark = pytest.mark.slow

# Commands that run elsewhere, not as a dry run here, and why.
RUN_ELSEWHERE = {
    "--report": "needs a finished run: test_workflow.py's report test writes one on the tiny run",
    "--lint": "make lint runs it, and make test runs make lint first",
    "--sdm": "a dry run under --sdm conda asks conda, which the test machines lack",
}
# A user's files in the docs, and what stands for each here ({bundle}: the tiny run's).
STAND_INS = {
    "/data/cohort/samples.tsv": "cohort/samples.tsv",
    "/data/hospital_b/samples.tsv": "cohort/samples.tsv",
    "/data/egfrmet_bundle": "{bundle}",
    "/data/models/egfrmet_bundle": "{bundle}",
    "/data/resnet50_imagenet.pth": "none",  # the tiny network trains from scratch
    "gpu=N": "gpu=1",
}


def documented():
    """{command: the pages that show it} for each snakemake command line of the docs, and
    {file: YAML} for each config file their `printf` lines write."""
    commands, files = {}, {}
    for doc in DOCS:
        for command in shell_commands(doc):
            listed = words(command)
            if listed and is_snakemake(listed[0]):
                commands.setdefault(" ".join(listed), []).append(name(doc))
            elif printed_yaml(command):
                file, content = printed_yaml(command)
                files[file] = yaml.safe_dump(content)
    return commands, files


COMMANDS, PRINTED = documented()


def elsewhere(command):
    return next((why for flag, why in RUN_ELSEWHERE.items() if flag in command.split()), None)


def stood_in(text, bundle):
    """`text` with each placeholder replaced; `bundle()` gives the bundle when one is named."""
    for placeholder, stand_in in STAND_INS.items():
        if placeholder in text:
            text = text.replace(placeholder, stand_in.format(bundle=bundle() if "{bundle}" in stand_in else ""))
    unknown = re.search(r"(?<![\w.])/data/[^\s'\"]*", text)
    assert not unknown, f"{unknown.group(0)}: a placeholder with no stand-in (add it to STAND_INS)"
    return text


def with_overlay(args, overlay):
    """The user's edited config/config.yaml is the tiny overlay here: the first config file
    (a second --configfile flag would replace the first's list); the demo brings its own."""
    if "config/demo.yaml" in args:
        return args
    if "--configfile" not in args:
        return ["--configfile", overlay, *args]
    at = args.index("--configfile") + 1
    return [*args[:at], overlay, *args[at:]]


@pytest.fixture(scope="module")
def user_folder(tmp_path_factory):
    """The tiny cohort in a folder that holds what a clone's root holds."""
    workdir = tmp_path_factory.mktemp("docs")
    for part in ("config", "resources", "workflow"):
        (workdir / part).symlink_to(REPO / part)
    return workdir, tiny_cohort(workdir, None)


def test_the_docs_show_the_commands_a_user_runs():
    """The scan reads what it should: the README's first command, the profile's, a bundle's,
    and the config files the README and running.md write."""
    shown = " | ".join(COMMANDS)
    assert "snakemake --cores all" in COMMANDS
    assert "--workflow-profile workflow/profiles/slurm" in shown and "bundle=/data/egfrmet_bundle" in shown
    assert {"mine.yaml", "hospital_b.yaml"} <= PRINTED.keys()
    assert sum(elsewhere(c) is None for c in COMMANDS) >= 10


@pytest.mark.parametrize("command", [c for c in COMMANDS if not elsewhere(c)], ids=str)
def test_each_documented_snakemake_command_dry_runs(command, user_folder, request):
    workdir, overlay = user_folder

    def bundle():
        return request.getfixturevalue("tiny_run")[0] / "results" / "bundle"

    args = [stood_in(word, bundle) for word in words(command)[1:]]
    for file in PRINTED.keys() & set(args):
        (workdir / file).write_text(stood_in(PRINTED[file], bundle), encoding="utf-8")
    result = run_snakemake(workdir, "--dry-run", *with_overlay(args, overlay), check=False, timeout=300)
    assert result.returncode == 0, (
        f"{command} (shown in {', '.join(COMMANDS[command])}) fails as a dry run:\n"
        f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )


def test_a_command_that_fails_fails_here(user_folder):
    """What config/README.md showed before 0.7.0 (`select` must be a list) fails this test."""
    workdir, overlay = user_folder
    args = words('snakemake --cores all --config "train={epochs: 10, select: last}"')[1:]
    result = run_snakemake(workdir, "--dry-run", *with_overlay(args, overlay), check=False, timeout=300)
    assert result.returncode != 0 and "select" in result.stdout + result.stderr
