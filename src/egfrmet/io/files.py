"""Writing files atomically, their checksums, and reading crops: plain numpy, no SimpleITK,
so the torch stages (train, evaluate, predict) need no imaging library."""

import contextlib
import functools
import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

from egfrmet.errors import InputError


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


def sha256(path):
    """The file's SHA-256 (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path):
    """sha256 of a file that is read again and again (a weights file, at each parse): once
    per content seen, by path, size and modification time."""
    stat = os.stat(path)
    return _sha256_of(os.path.realpath(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _sha256_of(path, size, mtime_ns):
    return sha256(path)


def write_csv(frame, path):
    """A table as csv without its index, atomically."""
    with atomic_output(path) as tmp:
        frame.to_csv(tmp, index=False)


def write_text(text, path):
    """Text as UTF-8, atomically."""
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def paired_sequences(settings, files):
    """(name, file) of each further sequence a stage's settings name (settings.further_sequences),
    with the files its command got in that order, and file None for each the patient lacks
    (settings["absent"]); None when the counts differ."""
    names, absent = settings.get("sequences", []), set(settings.get("absent", []))
    if not absent <= set(names) or len(names) - len(absent) != len(files):
        return None
    given = iter(files)
    return [(name, None if name in absent else next(given)) for name in names]


def crop_files(paths):
    """{patient_id: path} of crops files, each {patient}.npz: a job's declared inputs, so that
    it reads no patient the workflow's graph does not show it reading."""
    if isinstance(paths, str | os.PathLike):  # a folder by name would hide what the job reads
        raise TypeError(f"crops: the crops files, not one path ({paths})")
    return {os.path.basename(path).removesuffix(".npz"): str(path) for path in paths}


def read_crops(crops, patient, lesion_channel=False):
    """A patient's crop slices as channels (n, channels, size, size) from its file in `crops`
    ({patient_id: path}, crop_files'; stage crop): the T1c first, then each further
    sequence, then with `lesion_channel` the lesion mask (0 or 1)."""
    if not isinstance(crops, dict):
        raise TypeError(f"crops: {{patient_id: path}} (crop_files'), not {type(crops).__name__}")
    if patient not in crops:
        raise InputError(f"patient {patient}: its crops are not among this job's inputs ({len(crops)} crops files)")
    return crop_channels(crops[patient], lesion_channel)


def crop_channels(path, lesion_channel=False):
    """The channels (n, channels, size, size) of one crops file (.npz); see read_crops. Crops
    of a run that allows missing sequences say which the patient has (`sequence_present`):
    a 0-or-1 channel each, last (settings.model_settings counts them)."""
    with np.load(path) as crops:
        channels = [crops["slices"][:, None]]
        if "sequences" in crops:
            channels.append(crops["sequences"])
        if lesion_channel:
            channels.append(crops["masks"][:, None].astype(channels[0].dtype))
        if "sequence_present" in crops:  # inputs.missing: allow; one 0-or-1 channel per sequence
            present = crops["sequence_present"].astype(channels[0].dtype)
            n, _, height, width = channels[0].shape
            channels.append(np.broadcast_to(present[None, :, None, None], (n, len(present), height, width)))
    return np.concatenate(channels, axis=1)


def crop_layout(path):
    """Each crop slice's lesion number (`lesion`) and lesion voxels in its source slice
    (`lesion_area`), which the network families read (egfrmet.training.networks). A crops file
    without them (one written by hand) counts as one lesion on every slice."""
    with np.load(path) as crops:
        n = len(crops["slices"])
        return {
            "lesion": crops["lesion"] if "lesion" in crops else np.ones(n, dtype=int),
            "lesion_area": crops["lesion_area"] if "lesion_area" in crops else np.ones(n, dtype=int),
        }
