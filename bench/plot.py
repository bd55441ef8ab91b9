"""Draw req/s against parcels, one panel per request kind, one line per server.

    <plot venv>/python bench/plot.py RESULTS.json OUT.png

Runs in bench/.work/venvs/plot (matplotlib is a benchmark tool, not a project
dependency), so it imports nothing from the project: it reads the JSON that
bench/compare.py wrote (a list of per-size results).
"""

from __future__ import annotations

import json
import math
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

COLOURS = {"onemap": "#c0392b", "tipg": "#2471a3", "pygeoapi": "#229954"}


def _size(n: int) -> str:
    return f"{n / 1e6:g}M" if n >= 1_000_000 else f"{n / 1e3:g}k"


def main(src: str, out: str) -> None:
    with open(src, encoding="utf-8") as fh:
        results = json.load(fh)
    kinds = list(results[0]["kinds"].items())
    cols = 4
    rows = math.ceil(len(kinds) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    sizes = [r["parcels"] for r in results]
    for ax, (kid, title) in zip(axes.flat, kinds):
        seen: list[float] = []
        for server in results[0]["servers"]:
            ys = []
            for r in results:
                k = r["servers"].get(server, {}).get("kinds", {}).get(kid) or {}
                ys.append(k.get("rps", math.nan))
            if all(math.isnan(y) for y in ys):
                continue
            seen += [y for y in ys if not math.isnan(y) and y > 0]
            ax.plot(sizes, ys, marker="o", label=server, color=COLOURS.get(server))
        ax.set_title(title, fontsize=8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        if seen:  # at least a decade either side, so a flat line looks flat
            ax.set_ylim(min(seen) / 3, max(seen) * 3)
        ax.set_xticks(sizes, [_size(n) for n in sizes])
        ax.minorticks_off()
        ax.set_xlim(sizes[0] / 1.5, sizes[-1] * 1.5)
        ax.set_xlabel("parcels", fontsize=7)
        ax.set_ylabel("req/s", fontsize=7)
        ax.tick_params(labelsize=7)
        ax.grid(True, which="both", alpha=0.3)
    for ax in list(axes.flat)[len(kinds):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    # in the last, empty panel when there is one (it would cover a title in a corner)
    spare = list(axes.flat)[len(kinds):]
    if spare:
        spare[-1].legend(handles, labels, loc="center")
    else:
        fig.legend(handles, labels, loc="lower right")
    fig.suptitle("requests/s against parcels (2-core machine, one server at a time)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
