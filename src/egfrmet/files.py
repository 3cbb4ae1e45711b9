"""Writing files atomically and reading crops: plain numpy, no SimpleITK, so the torch stages
(train, evaluate, predict) need no imaging library."""

import contextlib
import os
import tempfile
from pathlib import Path

import numpy as np


@contextlib.contextmanager
def atomic_output(path):
    """A temporary path beside `path`, renamed onto it only when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(path.suffixes)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_crops(folder, patient):
    """A patient's crop slices (n, size, size) from `folder`/{patient}.npz (stage crop)."""
    with np.load(os.path.join(folder, f"{patient}.npz")) as crops:
        return crops["slices"]
