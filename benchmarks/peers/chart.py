"""Bar chart of results.json, drawn by the peers' interpreter (it has matplotlib).

chart.py RESULTS_JSON OUT_PNG
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

PANELS = [
    ("enqueue", "enqueue, one call per task (tasks/s)"),
    ("batch", "bulk enqueue (tasks/s)"),
    ("drain", "one worker's drain (tasks/s)"),
]
COLOURS = {"alligator": "#2e7d32", "peer": "#1565c0", "raw": "#9e9e9e"}


def main(src, dst):
    with open(src) as handle:
        rows = json.load(handle)["rows"]
    fig, axes = plt.subplots(1, len(PANELS), figsize=(18, 7))
    for ax, (metric, title) in zip(axes, PANELS, strict=True):
        chosen = [r for r in rows if r["metric"] == metric]
        chosen.sort(key=lambda r: r["median"])
        labels = [r["system"] for r in chosen]
        medians = [r["median"] for r in chosen]
        errors = [
            [r["median"] - r["min"] for r in chosen],
            [r["max"] - r["median"] for r in chosen],
        ]
        colours = [COLOURS.get(r["group"], "#000") for r in chosen]
        ax.barh(labels, medians, xerr=errors, color=colours, capsize=2)
        ax.set_xscale("log")
        ax.set_title(title)
        ax.tick_params(axis="y", labelsize=8)
        for y, value in enumerate(medians):
            ax.text(value, y, f" {value:,.0f}", va="center", fontsize=7)
    fig.suptitle("Alligator (green) vs peers (blue) vs raw Redis (grey); median, min-max bars")
    fig.tight_layout()
    fig.savefig(dst, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
