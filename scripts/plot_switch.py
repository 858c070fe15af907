#!/usr/bin/env python3
"""Plots the cost of a task switch against the number of events per task, for pctx and the
kernel, from the curve `pctx bench --plot` measures. Usage: plot_switch.py CURVE.json OUT.png
(CURVE.json: {"n": [...], "pctx_tsc": [...], "pctx_two": [...], "kernel": [...]}, ns)."""
import json
import sys

import matplotlib

matplotlib.use("Agg")  # no display needed
import matplotlib.pyplot as plt  # noqa: E402


def main():
    curve = json.load(open(sys.argv[1]))
    n = curve["n"]
    fig, (total, perf) = plt.subplots(1, 2, figsize=(11, 4.2))
    series = [("pctx, tsc", curve["pctx_tsc"], "o-"),
              ("pctx, tsc + perf software", curve["pctx_two"], "s-"),
              ("kernel, task-clock events", curve["kernel"], "^-")]
    for label, ys, style in series:
        pts = [(x, y) for x, y in zip(n, ys) if y is not None and y >= 0]
        if not pts:
            continue
        xs = [p[0] for p in pts]
        total.plot(xs, [p[1] for p in pts], style, label=label)
        base = pts[0][1]
        perf.plot(xs, [p[1] - base for p in pts], style, label=label)
    total.set_title("time per task switch")
    perf.set_title("perf's share: less the switch with no events")
    for ax in (total, perf):
        ax.set_xlabel("events per task")
        ax.set_ylabel("ns per switch")
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xticks(n)
        ax.set_xticklabels([str(x) for x in n])
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=110)


if __name__ == "__main__":
    main()
