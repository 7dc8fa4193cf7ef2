"""Trade-off of the penalty continuation (docs/pinn.md): left-out strained-cell energy MAE against the training-set MAE.

Usage: /usr/bin/python3 bench/pinn/continuation_plot.py bench/pinn/continuation-split.csv docs/pinn-continuation-tradeoff.png
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

rows = [r for r in csv.reader(l for l in open(sys.argv[1]) if not l.startswith("#"))]
pinn = [r for r in rows if r[0] == "PINN"]
nn = [r for r in rows if r[0] == "NN"]
fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
x = [float(r[6]) for r in pinn]
y = [float(r[4]) for r in pinn]
ax.plot(x, y, "o-", color="tab:blue", label="PINN, penalty lowered along stage 2")
for r, xi, yi in zip(pinn, x, y):
    ax.annotate(f"{r[1]} it., τ {float(r[2]):g}", (xi, yi), textcoords="offset points", xytext=(6, 4), fontsize=8)
for r in nn:
    ax.plot(float(r[6]), float(r[4]), "s", color="tab:red")
    ax.annotate(f"NN {r[1]} it.", (float(r[6]), float(r[4])), textcoords="offset points", xytext=(6, -10), fontsize=8, color="tab:red")
ax.set_xlabel("training-set energy MAE (175 structures), meV/atom")
ax.set_ylabel("left-out strained cells (39), energy MAE, meV/atom")
ax.set_title("so3 PINN, strained cells left out: fit against transfer", fontsize=10)
ax.grid(alpha=0.3)
ax.legend(fontsize=8, loc="upper right")
fig.tight_layout()
fig.savefig(sys.argv[2])
