"""One card per job on a workstation (egfrmet.cards), tested without a GPU: jobs are
processes that claim among fake cards and report which they got."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from egfrmet import cards

SRC = str(Path(cards.__file__).parents[1])
# A job: claim one of COUNT cards, print its index, then hold it until stdin closes.
JOB = """
import sys
from egfrmet import cards
print(cards.claim(int(sys.argv[1]), poll_seconds=0.05), flush=True)
sys.stdin.read()
"""


def start(count, folder, **env):
    outside = {key: value for key, value in os.environ.items() if key != "SLURM_JOB_ID"}
    environment = outside | {cards.FOLDER_VARIABLE: str(folder), "PYTHONPATH": SRC} | env
    return subprocess.Popen(
        [sys.executable, "-c", JOB, str(count)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=environment,
    )


def card_of(job, timeout=30):
    """The card a job reports, or None while it is still waiting for one."""
    deadline = time.monotonic() + timeout
    os.set_blocking(job.stdout.fileno(), False)
    while time.monotonic() < deadline:
        line = job.stdout.readline()
        if line:
            return int(line)
        time.sleep(0.05)
    return None


def stop(job):
    job.stdin.close()
    job.wait(timeout=30)


def test_n_jobs_on_n_cards_get_n_distinct_cards(tmp_path):
    jobs = [start(3, tmp_path) for _ in range(3)]
    try:
        assert sorted(card_of(job) for job in jobs) == [0, 1, 2]
    finally:
        for job in jobs:
            stop(job)


def test_a_claim_frees_when_its_job_exits_and_when_it_is_killed(tmp_path):
    first, second = start(2, tmp_path), start(2, tmp_path)
    assert {card_of(first), card_of(second)} == {0, 1}
    third = start(2, tmp_path)
    assert card_of(third, timeout=1.5) is None  # both cards taken: it waits
    stop(first)  # exits normally: its card goes to the waiting job
    freed = card_of(third)
    assert freed in (0, 1)
    os.kill(second.pid, signal.SIGKILL)  # no clean-up runs: the kernel drops the lock
    second.wait(timeout=30)
    fourth = start(2, tmp_path)
    assert card_of(fourth) == 1 - freed
    stop(third)
    stop(fourth)


def test_a_process_keeps_the_card_it_claimed(tmp_path, monkeypatch):
    monkeypatch.setenv(cards.FOLDER_VARIABLE, str(tmp_path))
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.setattr(cards, "_held", {})
    assert cards.claim(4) == cards.claim(4) == 0
    other = start(4, tmp_path)
    assert card_of(other) == 1  # the first card stays this process's
    stop(other)


def test_a_slurm_job_uses_the_card_the_scheduler_gave_it(tmp_path):
    jobs = [start(1, tmp_path, SLURM_JOB_ID="42", CUDA_VISIBLE_DEVICES="3") for _ in range(2)]
    try:
        assert [card_of(job) for job in jobs] == [0, 0]  # no lock taken: both run
        assert not list(tmp_path.iterdir())
    finally:
        for job in jobs:
            stop(job)


def test_cards_a_user_narrowed_are_locked_by_their_own_names(tmp_path, monkeypatch):
    """CUDA_VISIBLE_DEVICES=2,3: two jobs lock card-2 and card-3, whatever torch numbers them."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert cards.card_names(2) == ["2", "3"]
    jobs = [start(2, tmp_path, CUDA_VISIBLE_DEVICES="2,3") for _ in range(2)]
    try:
        assert sorted(card_of(job) for job in jobs) == [0, 1]
        assert sorted(path.name for path in tmp_path.iterdir()) == ["card-2.lock", "card-3.lock"]
    finally:
        for job in jobs:
            stop(job)


def test_no_card_to_claim_is_an_error():
    with pytest.raises(ValueError, match="no CUDA card"):
        cards.claim(0)
