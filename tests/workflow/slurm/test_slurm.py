"""The tiny workflow through the SLURM profile on a real single-node Slurm (make test-slurm).

tests/workflow/slurm/start.sh starts the cluster and prints the SLURM_CONF this test needs.
"""

import functools
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import pytest
import yaml

from conftest import REPO, TINY_SHEET, grown_sheet, tiny_cohort

pytestmark = pytest.mark.skipif(
    "SLURM_CONF" not in os.environ,
    reason="needs the single-node Slurm of tests/workflow/slurm/start.sh: run `make test-slurm`",
)
SHEET = TINY_SHEET | {"n_patients": 12, "n_positive": 6, "n_test": 1, "n_test_positive": 0}
BATCH = 6  # patients per preprocessing job here (the shipped profile's group-components: 25)
TIMEOUT = 900

# What the single-node test Slurm of tests/workflow/slurm/start.sh needs; everything else is the
# shipped profile's (workflow/profiles/slurm), so the test runs what users copy.
# - no accounting database, so job states come from squeue; MinJobAge (600 s in start.sh)
#   is over 3 x the first status check, else the plugin silently goes back to sacct;
# - short status intervals (a 5-job run: 160 s with the defaults, 38 s with these);
# - its partition, and 1 CPU and little memory a job, so that two batches run at once on
#   the test node's 2 CPUs.
TEST_NODE = {
    "jobs": 10,
    "latency-wait": 5,
    "seconds-between-status-checks": 2,
    "slurm-status-command": "squeue",
    "slurm-init-seconds-before-status-checks": 2,
    "default-resources": {"slurm_partition": "debug", "runtime": 10, "mem_mb": 500},
    "group-components": [f"preprocess={BATCH}"],
    "cores": 1,
}
NODE_RESOURCES = {"slurm_partition": "debug"}


@functools.cache
def profile():
    """workflow/profiles/slurm with only TEST_NODE's settings changed, in a folder of its own."""
    settings = yaml.safe_load((REPO / "workflow" / "profiles" / "slurm" / "config.yaml").read_text(encoding="utf-8"))
    settings |= TEST_NODE
    for resources in settings["set-resources"].values():  # every rule's memory; partitions where set
        resources |= {key: value for key, value in NODE_RESOURCES.items() if key in resources} | {"mem_mb": 1000}
    folder = Path(tempfile.mkdtemp(prefix="egfrmet-slurm-profile-"))
    (folder / "config.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    return folder


def run_on_slurm(workdir, overlay, *extra):
    """Snakemake through the SLURM profile; stopped with SIGINT (on SIGTERM it would wait)."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(REPO / "Snakefile"),
        "-d",
        str(workdir),
        "--workflow-profile",
        str(profile()),
        "--configfile",
        overlay,
        *extra,
    ]
    job = subprocess.Popen(command, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = job.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        job.send_signal(signal.SIGINT)
        output, _ = job.communicate(timeout=60)
        pytest.fail(f"the Slurm run took over {TIMEOUT} s:\n{output[-5000:]}")
    assert job.returncode == 0, output[-8000:]
    return output


def slurm_jobs():
    """(job id, rule, wildcards, state) of every job Snakemake submitted, from Slurm's own
    record (squeue; comment rule_..., or for a batch of the preprocess group
    rule_preprocess_<its rules>: named `preprocess` here)."""
    lines = subprocess.run(
        ["squeue", "--states=all", "-h", "-o", "%i|%k|%T"], capture_output=True, text=True, check=True
    ).stdout
    jobs = []
    for line in lines.splitlines():
        job_id, comment, state = line.split("|")
        match = re.fullmatch(r"rule_(\w+?)(?:_wildcards_(.*))?", comment)
        if comment.startswith("rule_preprocess_"):
            jobs.append((job_id, "preprocess", "", state))
        elif match:
            jobs.append((job_id, match.group(1), match.group(2) or "", state))
    return jobs


@pytest.mark.slow
def test_every_job_runs_on_slurm_and_training_gets_a_gpu(tmp_path, config):
    # 2 patients per fold's training set cannot form inner folds: the leak-free selection's
    # inner trainings are tested by the local tiny workflow, the Slurm submission here
    overlay = tiny_cohort(
        tmp_path, config, train={"select": ["best_val_accuracy", "last"], "predict_with": "last"}, **SHEET
    )
    # nor can they choose a radiomics model's C by inner folds: the one-number baselines run,
    # and a fusion of them (one C)
    settings = yaml.safe_load((tmp_path / overlay).read_text(encoding="utf-8"))
    settings["baselines"] = {"methods": ["volume", "intensity"]}
    settings["fusion"] = {"components": ["volume", "intensity"], "clinical_variables": False, "c_values": [1.0]}
    settings["resources"] = {"train": {"threads": 1, "gpu": 1}}  # the config asks for the card, not the profile
    (tmp_path / overlay).write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    before = {job[0] for job in slurm_jobs()}
    run_on_slurm(tmp_path, overlay)

    jobs = [job for job in slurm_jobs() if job[0] not in before]
    patients = SHEET["n_patients"] + SHEET["n_test"]
    # each patient's chain (synth, check, N4, normalise, crop, features) in batches of BATCH
    # (the folds rule is local: it writes a table the DAG already holds)
    expected = {"preprocess": math.ceil(patients / BATCH), "train": 2, "evaluate": 1, "predict": 1}
    expected |= {
        "baseline": 2,
        "fusion": 2,
        "model_card": 1,
        "bundle": 1,  # (the summary is local; with one held-out patient, no external cohort)
        "explain": 2,
        "explain_figure": 1,
    }
    assert Counter(rule for _, rule, _, _ in jobs) == expected
    assert {state for *_, state in jobs} == {"COMPLETED"}

    for job_id, rule, wildcards, _ in jobs:
        if rule == "train":
            details = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True).stdout
            assert re.search(r"TresPerJob=gres:gpu:1|TresPerNode=gres:gpu:1", details), details
            fold = wildcards  # the comment holds wildcard values: rule_train_wildcards_0
            log = (tmp_path / "logs" / "train" / f"fold{fold}.log").read_text(encoding="utf-8")
            visible = re.search(r"CUDA_VISIBLE_DEVICES=(\S+),", log).group(1)
            assert visible in ("0", "1"), log[:500]  # set by Slurm for the job's card
    assert (tmp_path / "results" / "evaluation" / "table2.csv").exists()
    assert (tmp_path / "results" / "predictions" / "predictions.csv").exists()
    assert len(list((tmp_path / "results" / "crops").glob("*.npz"))) == patients

    # one more patient: one preprocessing job (then the folds, trainings and evaluation again)
    before = {job[0] for job in slurm_jobs()}
    run_on_slurm(tmp_path, overlay, "--config", grown_sheet(tmp_path, patient_id="P013", label="0", split="cv"))
    again = Counter(rule for job_id, rule, _, _ in slurm_jobs() if job_id not in before)
    assert again["preprocess"] == 1, again
    assert (tmp_path / "results" / "crops" / "P013.npz").exists()
