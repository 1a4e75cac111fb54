"""The long version of the tutorial "How far to trust the numbers" (notebook 17).

    python tools/trust_the_numbers_long.py   # every run 20,000 requests and 4 days, five seeds
    python tools/trust_the_numbers_long.py --seeds 3 --out /tmp/17_long.ipynb

The book's version of the notebook ends each run at 20,000 requests or 4 days, whichever
comes first, so that it executes in well under a minute. This tool runs the same notebook
with papermill, with ``LONG=True``: every run then lasts for both (at least 20,000 requests
*and* at least 4 days of traffic, the slowest experiment's run about four months of virtual
time), over more seeds. The notebook's ``summary`` cell asserts the same claims as in the
book (per replica at most 14 % and 3.1 % MAPE, below paced on cold starts), so the tool
fails if a longer run does not keep them. It prints the MAPE of each model, and the JSON
of the summary as its last line. Everything runs on the simulator's virtual clock, seeded:
the numbers are the same on every machine; only the wall time (minutes) varies.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import papermill

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "17_trust_the_numbers.ipynb"


def summary_of(nb: dict) -> dict:
    """The JSON object the notebook's ``summary`` cell prints on its last line."""
    for cell in nb["cells"]:
        if "summary" in cell.get("metadata", {}).get("tags", []):
            for out in cell.get("outputs", []):
                if out.get("name") == "stdout":
                    return json.loads("".join(out["text"]).strip().splitlines()[-1])
    raise SystemExit(f"{NOTEBOOK.name} has no cell tagged 'summary' printing a JSON object")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arrivals", type=int, default=20_000, help="requests per run, at least (default 20,000)")
    parser.add_argument("--days", type=float, default=4, help="days of traffic per run, at least (default 4)")
    parser.add_argument("--seeds", type=int, default=5, help="seeded runs per experiment and reading (default 5)")
    parser.add_argument("--out", type=Path, help="keep the executed notebook here (default: a temporary folder)")
    args = parser.parse_args(argv)
    for name in ("arrivals", "days", "seeds"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name} must be above 0, got {getattr(args, name)}")
    parameters = dict(ARRIVALS=args.arrivals, DAYS=args.days, SEEDS=args.seeds, LONG=True)
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp) / NOTEBOOK.name
        nb = papermill.execute_notebook(str(NOTEBOOK), str(out), parameters=parameters, kernel_name="python3",
                                        cwd=str(NOTEBOOK.parent), progress_bar=False)
    summary = summary_of(nb)
    print(f"{summary['experiments']} experiments, {summary['seeds']} seeds, "
          f"{summary['requests_counted']:,} requests counted per reading ({parameters})")
    print(f"{'model':<26}{'cold-start share':>18}{'instances':>12}")
    for name, (cold, count) in sorted(summary["mape"].items()):
        print(f"{name:<26}{cold:>16.2f} %{count:>10.2f} %")
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
