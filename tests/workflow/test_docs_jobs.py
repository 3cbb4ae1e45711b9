"""docs/running.md's table of the Slurm jobs a demo-sized run submits is Snakemake's own
dry-run plan through the shipped profile, not a hand count: this test makes the table and
fails when the page's differs (EGFRMET_UPDATE_DOCS=1 writes it there instead)."""

import math
import os
import re

import pytest
import yaml

from conftest import REPO, run_snakemake

PAGE = REPO / "docs" / "running.md"
START, END = "<!-- slurm-jobs: start -->", "<!-- slurm-jobs: end -->"
PREPROCESSING = {"synth", "check", "bias", "bias_sequence", "normalise", "normalise_sequence", "crop", "features"}


def planned_counts(workdir):
    """{rule: jobs} and which rules are local, from the dry run's job table."""
    result = run_snakemake(
        workdir,
        "--dry-run",
        "--workflow-profile",
        str(REPO / "workflow" / "profiles" / "slurm"),
        "--configfile",
        str(REPO / "config" / "demo.yaml"),
        "--config",
        f"samples={REPO / 'resources' / 'demo' / 'samples.tsv'}",
        timeout=600,
    )
    counts = {}
    for line in result.stdout.splitlines():
        match = re.fullmatch(r"(\w+)\s+(\d+)", line.strip())
        if match and match.group(1) not in ("total", "all"):
            counts[match.group(1)] = int(match.group(2))
    return counts, local_rules()


def local_rules():
    """The rules Snakemake runs itself on a cluster: `localrules:` lists and `localrule: True`."""
    local = set()
    for path in (REPO / "workflow" / "rules").glob("*.smk"):
        text = path.read_text(encoding="utf-8")
        for listed in re.findall(r"^localrules:\n((?:[ \t]+\w+,?\n)+)", text, re.M):
            local |= set(re.findall(r"\w+", listed))
        local |= set(re.findall(r"^rule (\w+):\n(?:[ \t].*\n|\n)*?[ \t]+localrule: True", text, re.M))
    return local


def job_table(counts, local, patients, batch):
    """The page's table: preprocessing batches, then each other rule's Slurm jobs."""
    lines = [
        "| jobs | Slurm submissions |",
        "|---|---|",
        f"| preprocessing of {patients} patients ({', '.join(sorted(PREPROCESSING & counts.keys()))}), "
        f"{batch} patients a batch | {math.ceil(patients / batch)} |",
    ]
    for rule in sorted(counts.keys() - PREPROCESSING - local, key=lambda r: (-counts[r], r)):
        lines.append(f"| {rule} | {counts[rule]} |")
    ours = sorted(local & counts.keys())
    if ours:
        lines.append(f"| run by Snakemake itself, not submitted | {', '.join(ours)} |")
    return "\n".join(lines)


@pytest.mark.slow
def test_the_pages_slurm_job_table_is_the_dry_runs(tmp_path):
    profile = yaml.safe_load((REPO / "workflow" / "profiles" / "slurm" / "config.yaml").read_text(encoding="utf-8"))
    batch = int(profile["group-components"][0].split("=")[1])
    counts, local = planned_counts(tmp_path)
    patients = counts["check"]
    table = job_table(counts, local, patients, batch)
    text = PAGE.read_text(encoding="utf-8")
    assert START in text and END in text, f"{PAGE} lost its generated table's markers"
    before, rest = text.split(START)
    _, after = rest.split(END)
    wanted = f"{before}{START}\n{table}\n{END}{after}"
    if os.environ.get("EGFRMET_UPDATE_DOCS"):
        PAGE.write_text(wanted, encoding="utf-8")
    assert text == wanted, f"docs/running.md's Slurm job table is stale; the dry run's:\n{table}"
