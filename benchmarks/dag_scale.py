"""How long Snakemake takes to plan the workflow as the cohort grows, and a no-op re-run.

For each cohort size it writes a sheet in a scratch folder and times, in a fresh process:
- `snakemake -n` (and `-n --quiet`, which plans the same DAG without printing every job) on
  a sheet whose files are absent and come from the `synth` rule (`synth.enabled`), and on a
  sheet of tiny files on disk (the header checks at parse time read them, as for a user);
- a no-op re-run at the largest size: every output of the on-disk sheet made up to date
  (empty files, oldest first in the order of the stages), then `snakemake -n` and
  `snakemake --cores 2`, both of which must find nothing to do;
- a no-op re-run of the demo: `snakemake --cores 2 --configfile config/demo.yaml` in a
  folder where it is complete (`--demo-workdir .` after `make demo`; by default a demo-sized
  run with tiny images and a tiny network is made first, a few minutes).
It prints seconds, jobs, milliseconds per patient and the growth exponent between sizes
(1.0 = linear). Goal: 5,000 patients planned in <= 20 s, no-op re-run <= 5 s, on
2 cores.

    python benchmarks/dag_scale.py                       # 100, 1,000 and 5,000 patients
    python benchmarks/dag_scale.py --patients 100 1000 --demo-workdir .
"""

import argparse
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
from egfrmet import synth  # noqa: E402

TINY_PATIENT = {"shape": [24, 28, 20], "spacing": [6.0, 6.0, 6.0]}
# The per-patient stages in the order they run, then the cohort-wide ones.
STAGES = ["synth", "check", "bias", "normalise", "crop", "folds", "train", "evaluate", "predict"]
TINY_TRAINING = {
    "model": {"arch": "resnet10t", "weights": "none", "head_hidden": 16},
    "train": {"epochs": 1, "batch_size": 16, "device": "cpu"},
    "evaluate": {"bootstrap": 50},
    "resources": {"train": {"threads": 1, "gpu": 0}},
}


def snakemake(workdir, *args):
    """Seconds and output of one Snakemake process run on the repository's workflow."""
    command = [shutil.which("snakemake"), "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--cores", "2", *args]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, encoding="utf-8", errors="replace", cwd=workdir)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return seconds, result.stdout + result.stderr


def planned_jobs(output):
    totals = [line.split()[1] for line in output.splitlines() if line.startswith("total ")]
    return int(totals[-1]) if totals else 0


def cohort(n, seed=0):
    """A sheet of `n` cross-validation patients (27 % positive, two centres) and n/10 to predict."""
    a = round(n * 0.78)
    return synth.make_sheet(
        n_patients=n,
        n_positive=round(n * 0.27),
        centers={"A": a, "B": n - a},
        n_test=max(2, n // 10),
        n_test_positive=max(1, n // 30),
        brain_mask_every=2,
        seed=seed,
    )


def write_sheets(root, n, config):
    """Two overlays in `root`: files absent (synth rule) and tiny files on disk."""
    sheet = cohort(n)
    absent = root / f"absent{n}"
    absent.mkdir()
    sheet.to_csv(absent / "samples.tsv", sep="\t", index=False)
    (root / f"absent{n}.yaml").write_text(
        yaml.safe_dump({"samples": f"absent{n}/samples.tsv", "synth": {"enabled": True}})
    )

    disk = root / f"disk{n}"
    (disk / "files").mkdir(parents=True)
    template = synth.make_patient("X", label=1, center="A", **(config["synth"]["patient"] | TINY_PATIENT))
    names = {"image": "t1", "mask": "lesion", "brain_mask": "brain"}
    synth.write_patient(template, **{k: str(disk / f"template_{v}.nii.gz") for k, v in names.items()})
    for column, name in names.items():
        paths = []
        for pid, wanted in zip(sheet.patient_id, sheet[column] != ""):
            path = f"files/{pid}_{name}.nii.gz"
            if wanted:
                shutil.copyfile(disk / f"template_{name}.nii.gz", disk / path)
            paths.append(path if wanted else "")
        sheet[column] = paths
    old = time.time() - 7200  # older than any output that make_up_to_date writes
    for path in (disk / "files").iterdir():
        os.utime(path, (old, old))
    sheet.to_csv(disk / "samples.tsv", sep="\t", index=False)
    (root / f"disk{n}.yaml").write_text(yaml.safe_dump({"samples": f"disk{n}/samples.tsv"}))


def make_up_to_date(workdir, overlay):
    """Every output of the plan as an empty file, written stage by stage so that each is
    newer than its inputs: what a finished run leaves, as far as Snakemake looks."""
    _, output = snakemake(workdir, "-n", "--configfile", overlay)
    files, rule = {stage: [] for stage in STAGES}, None
    for line in output.splitlines():
        if line.startswith(("rule ", "localrule ")):
            rule = line.split()[1].rstrip(":")
        elif rule in files and line.strip().startswith(("output:", "log:")):
            files[rule] += line.split(":", 1)[1].strip().split(", ")
    stamp = time.time() - 3600
    for stage in STAGES:
        stamp += 10
        for name in files[stage]:
            path = workdir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
            os.utime(path, (stamp, stamp))


def growth(rows):
    """Between successive sizes: ms per added patient (constant when linear), and the
    exponent b of time ~ patients^b (below 1 while the fixed start-up cost still counts)."""
    return [None] + [
        (1000 * (b["s"] - a["s"]) / (b["n"] - a["n"]), math.log(b["s"] / a["s"]) / math.log(b["n"] / a["n"]))
        for a, b in zip(rows, rows[1:])
    ]


def scale(root, sizes, config):
    for n in sizes:
        write_sheets(root, n, config)
    for kind in ("absent", "disk"):
        for flags in (["-n"], ["-n", "--quiet"]):
            rows = []
            for n in sizes:
                seconds, output = snakemake(root, *flags, "--configfile", f"{kind}{n}.yaml")
                jobs = planned_jobs(output) or planned_jobs(snakemake(root, "-n", "--configfile", f"{kind}{n}.yaml")[1])
                rows.append({"n": n, "s": seconds, "jobs": jobs})
            print(f"\nsheet files {kind}, snakemake {' '.join(flags)}")
            print("| patients | jobs | seconds | ms per added patient | growth exponent |\n|---|---|---|---|---|")
            for row, step in zip(rows, growth(rows)):
                marginal, exponent = ("", "") if step is None else (f"{step[0]:.2f}", f"{step[1]:.2f}")
                print(f"| {row['n']} | {row['jobs']} | {row['s']:.1f} | {marginal} | {exponent} |")
            sys.stdout.flush()


def noop(workdir, overlay, label, repeats=3):
    """Median seconds of a no-op dry run and of a no-op run; both must find nothing to do."""
    for flags in (["-n"], []):
        times = []
        for _ in range(repeats):
            seconds, output = snakemake(workdir, *flags, "--configfile", overlay)
            if "Nothing to be done" not in output:
                sys.exit(f"{label}: not a no-op, Snakemake planned jobs:\n{output[-3000:]}")
            times.append(seconds)
        median = sorted(times)[len(times) // 2]
        print(f"{label}, snakemake {' '.join(flags) or '(run)'}: {median:.2f} s (median of {repeats})")


def demo_run(root):
    """A demo-sized run (the demo's sheet, tiny images, a tiny network), made complete."""
    workdir = root / "demo"
    (workdir / "resources" / "demo").mkdir(parents=True)
    shutil.copyfile(REPO / "resources" / "demo" / "samples.tsv", workdir / "resources" / "demo" / "samples.tsv")
    overlay = yaml.safe_load((REPO / "config" / "demo.yaml").read_text(encoding="utf-8"))
    overlay = overlay | TINY_TRAINING | {"synth": {"enabled": True, "patient": TINY_PATIENT}}
    (workdir / "demo.yaml").write_text(yaml.safe_dump(overlay))
    start = time.perf_counter()
    snakemake(workdir, "--configfile", "demo.yaml")
    print(f"(demo-sized run made in {time.perf_counter() - start:.0f} s)")
    return workdir, "demo.yaml"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--demo-workdir", type=Path, help="a folder where the demo ran to the end (e.g. .)")
    parser.add_argument("--skip-demo", action="store_true")
    args = parser.parse_args()
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text(encoding="utf-8"))
    version = subprocess.run([shutil.which("snakemake"), "--version"], capture_output=True, text=True).stdout.strip()
    print(f"Snakemake {version}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="dag_scale_") as scratch:
        root = Path(scratch)
        scale(root, sorted(args.patients), config)
        largest = max(args.patients)
        make_up_to_date(root, f"disk{largest}.yaml")
        noop(root, f"disk{largest}.yaml", f"\nno-op re-run, {largest} patients")
        if not args.skip_demo:
            workdir, overlay = (
                (args.demo_workdir.resolve(), str(REPO / "config" / "demo.yaml"))
                if args.demo_workdir
                else demo_run(root)
            )
            noop(workdir, overlay, "no-op re-run of the demo")


if __name__ == "__main__":
    main()
