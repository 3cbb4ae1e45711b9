"""Each rule's measured seconds and peak memory, from the `benchmark:` files a run leaves in
logs/benchmarks/ (Snakemake's psutil figures: `s` wall seconds, `max_rss` peak resident MB),
and the SLURM resources they suggest.

Per rule: jobs, median and largest seconds, largest peak RSS; then `mem_mb` (the largest RSS
times the memory margin, rounded up to 500 MB, at least 1,000) and `runtime` (the largest
minutes times the time margin, rounded up, at least 1) for workflow/profiles/slurm. The
margins cover images larger than the run's (RSS and N4 time grow about with the voxels) and
slower nodes; state them beside the figures.

    python benchmarks/resources.py --workdir .            # after `make demo`
    python benchmarks/resources.py --workdir . --memory-margin 3 --time-margin 4
"""

import argparse
import math
from pathlib import Path

import pandas as pd


def rule_table(folder):
    """One row per rule: jobs, median and max seconds, max peak RSS (MB)."""
    rows = []
    for path in sorted(Path(folder).rglob("*.tsv")):
        rule = path.relative_to(folder).parts[0].removesuffix(".tsv")
        frame = pd.read_csv(path, sep="\t")
        rows.append({"rule": rule, "s": float(frame.s.max()), "max_rss": float(frame.max_rss.max())})
    jobs = pd.DataFrame(rows)
    return jobs.groupby("rule").agg(
        jobs=("s", "size"), median_s=("s", "median"), max_s=("s", "max"), max_rss_mb=("max_rss", "max")
    )


def suggested(table, memory_margin, time_margin):
    mem = (table.max_rss_mb * memory_margin / 500).apply(math.ceil) * 500
    runtime = (table.max_s / 60 * time_margin).apply(math.ceil)
    return table.assign(mem_mb=mem.clip(lower=1000).astype(int), runtime_min=runtime.clip(lower=1).astype(int))


def markdown(table):
    lines = [
        "| rule | jobs | median s | max s | peak RSS (MB) | mem_mb | runtime (min) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in table.itertuples():  # not iterrows: it would make the counts floats
        lines.append(
            f"| {row.Index} | {row.jobs} | {row.median_s:.1f} | {row.max_s:.1f} | {row.max_rss_mb:.0f} "
            f"| {row.mem_mb} | {row.runtime_min} |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default=".", help="the run's folder (holds logs/benchmarks/)")
    parser.add_argument("--memory-margin", type=float, default=2.0, help="mem_mb = peak RSS x this (default 2)")
    parser.add_argument("--time-margin", type=float, default=3.0, help="runtime = max minutes x this (default 3)")
    args = parser.parse_args()
    folder = Path(args.workdir) / "logs" / "benchmarks"
    if not folder.is_dir():
        raise SystemExit(f"{folder}: no benchmark files (run the workflow first)")
    print(markdown(suggested(rule_table(folder), args.memory_margin, args.time_margin)))


if __name__ == "__main__":
    main()
