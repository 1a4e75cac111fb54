"""Read simfaas's published per-experiment predictions out of its comparison notebook.

simfaas (pacslab/simfaas, MIT) compares its model with 20 AWS Lambda experiments in
``examples/04-Experiment-Comparison.ipynb``. The notebook prints its model's mean absolute
percentage error (12.23 % on the cold-start probability, 3.05 % on the average instance
count) and the first five rows of its predictions, but stores the twenty predictions
themselves only as the lines of two figures, saved in the notebook as SVG. An SVG line
is a list of exact coordinates, so the values can be read back: each figure's y axis is
linear, and two of its tick marks give the scale.

The reading is checked three ways before anything is written: the figure's other line
(the measurements) must give back ``exp.csv`` to six significant digits; the model's first
five values must equal the table the notebook prints (to its six decimals); and the
values read must give back the notebook's two printed MAPE figures. The result is
``data/simfaas-lambda/simfaas_predictions.csv``.

Run: ``python tools/simfaas_predictions.py PATH/TO/04-Experiment-Comparison.ipynb``
(the notebook at commit 408f2890f9f6ebe12b081a7d1f4220060f7ae228 of pacslab/simfaas, its
last change). Needs no network.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "data", "simfaas-lambda")

# what the notebook prints (its sim_df.head() table and its two MAPE lines)
PRINTED_HEAD = {"experiment_13": (0.352343, 0.663677), "experiment_14": (0.216185, 0.799057),
                "experiment_15": (0.180859, 0.826353), "experiment_16": (0.136205, 0.893272),
                "experiment_17": (0.083253, 0.946681)}
PRINTED_MAPE = (12.23, 3.05)


def svgs(notebook: dict) -> list:
    """The SVG figures the notebook stores, in cell order."""
    out = []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/svg+xml" in data:
                out.append("".join(data["image/svg+xml"]))
    return out


def line(svg: str, gid: str) -> list:
    """The y coordinates of the points of the path in group ``gid``."""
    start = svg.index(f'id="{gid}"')
    path = svg[start:svg.index("/>", start)]
    return [float(y) for _, y in re.findall(r"[ML] ([\d.]+) ([\d.]+)", path)]


def ticks(svg: str) -> dict:
    """The y axis's tick marks: ``{label value: y coordinate}``."""
    out = {}
    for block in re.findall(r'<g id="ytick_\d+">(.*?)</g>\s*</g>\s*</g>', svg, re.S):
        y = re.search(r'<use [^>]*y="([\d.]+)"', block)
        label = re.search(r"<!-- ([\d.]+) -->", block)
        if y and label:
            out[float(label.group(1))] = float(y.group(1))
    return out


def scale(svg: str):
    """The function from a y coordinate to a value, by the first two ticks."""
    (v0, y0), (v1, y1) = sorted(ticks(svg).items())[:2]
    return lambda y: v0 + (y0 - y) * (v1 - v0) / (y0 - y1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", help="simfaas's examples/04-Experiment-Comparison.ipynb")
    args = parser.parse_args(argv)
    with open(args.notebook, encoding="utf-8") as f:
        figures = svgs(json.load(f))
    with open(os.path.join(DATA, "exp.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    names = [r[""] for r in rows]
    read = {}
    for figure, column, percent in ((figures[0], "ColdStartProbability", True),
                                    (figures[1], "AverageInstanceCount", False)):
        value = scale(figure)
        model, measured = ([value(y) / (100 if percent else 1) for y in line(figure, gid)]
                           for gid in ("line2d_39", "line2d_40"))
        assert len(model) == len(measured) == len(rows), "one point per experiment"
        for r, m in zip(rows, measured):
            assert abs(m / float(r[column]) - 1) < 1e-5, f"{column} of {r['']}: read {m}, exp.csv has {r[column]}"
        read[column] = dict(zip(names, model))
    for name, (cold, count) in PRINTED_HEAD.items():
        assert abs(read["ColdStartProbability"][name] - cold) < 1e-6, name
        assert abs(read["AverageInstanceCount"][name] - count) < 1e-5, name
    for column, printed in zip(("ColdStartProbability", "AverageInstanceCount"), PRINTED_MAPE):
        mape = 100 * sum(abs(read[column][r[""]] / float(r[column]) - 1) for r in rows) / len(rows)
        assert round(mape, 2) == printed, f"{column}: MAPE {mape:.4f} %, the notebook prints {printed} %"
    out = os.path.join(DATA, "simfaas_predictions.csv")
    with open(out, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["experiment", "ColdStartProbability", "AverageInstanceCount"])
        for name in names:
            w.writerow([name, f"{read['ColdStartProbability'][name]:.6g}", f"{read['AverageInstanceCount'][name]:.6g}"])
    print(f"wrote {out}: 20 predictions, checked against exp.csv, the printed table and the printed MAPE "
          f"({PRINTED_MAPE[0]} %, {PRINTED_MAPE[1]} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
