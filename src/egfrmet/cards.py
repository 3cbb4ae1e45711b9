"""One GPU per job on a workstation.

Snakemake's `gpu` resource only caps how many jobs run at once; it hands no job a card
(snakemake/snakemake#281), so N trainings would all start on card 0. Each job that runs a
network on CUDA therefore claims a card for its lifetime: an exclusive `flock` on one file
per card in a folder every job of the machine shares. The kernel drops the lock when the
process ends, however it ends, so a killed job never leaves a card taken and no daemon is
needed. Inside a Slurm job the scheduler has chosen the card already (its
CUDA_VISIBLE_DEVICES): nothing is claimed.
"""

import fcntl
import logging
import os
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)

FOLDER_VARIABLE = "EGFRMET_CARD_LOCKS"  # where the lock files live (default: a folder in /tmp)

# The claimed card's index and open lock file: the claim lasts while the process does, so it
# is held here for the process's life (closing the file would free the card).
_held = {}


def lock_folder():
    folder = os.environ.get(FOLDER_VARIABLE) or Path(tempfile.gettempdir()) / f"egfrmet-cards-{os.getuid()}"
    Path(folder).mkdir(parents=True, exist_ok=True)
    return Path(folder)


def card_names(count):
    """Each visible card's name for its lock file: the entries of CUDA_VISIBLE_DEVICES where a
    user narrowed it (indices or UUIDs), so that two jobs name one physical card alike."""
    visible = [name.strip() for name in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if name.strip()]
    return visible[:count] if len(visible) >= count else [str(index) for index in range(count)]


def scheduled():
    """Whether a scheduler chose this job's card (a Slurm job): then it is used as it is."""
    return bool(os.environ.get("SLURM_JOB_ID"))


def claim(count, *, folder=None, poll_seconds=2.0):
    """The index (among the visible cards) of a card no other egfrmet job holds, claimed until
    this process ends; waits while every one of the `count` cards is taken."""
    if count < 1:
        raise ValueError("no CUDA card to claim")
    if _held:  # one card per process, however often it asks
        return _held["index"]
    if scheduled():
        log.info("card 0 of the %d the scheduler gave this job (CUDA_VISIBLE_DEVICES)", count)
        return 0
    folder = Path(folder) if folder else lock_folder()
    names = card_names(count)
    waiting = False
    while True:
        for index, name in enumerate(names):
            handle = open(folder / f"card-{name}.lock", "a+")  # noqa: SIM115 (held past this call)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")  # who holds it, for a person looking
            handle.flush()
            _held.update(index=index, handle=handle)
            log.info("claimed card %d of %d (%s, lock %s)", index, count, name, handle.name)
            return index
        if not waiting:
            log.info("all %d cards are in use by other jobs: waiting for one (locks in %s)", count, folder)
            waiting = True
        time.sleep(poll_seconds)


def cuda_device():
    """The torch device of a card of this job's own (claim), made the current one so that a
    library's plain `cuda` (deepbet's) means it too."""
    import torch

    card = claim(torch.cuda.device_count())
    torch.cuda.set_device(card)
    return torch.device("cuda", card)
