"""Transferability split of the mlearn Si training set (docs/pinn.md, issue 10).

Leaves out (1) every Elastic-group structure whose lattice strain relative to the unstrained diamond
cell has any engineering strain component (stretch U - I) above 4 %, and (2) every structure whose volume per atom lies
outside the range of the non-Elastic structures. Writes the kept and the left-out structures, and the
test set's Elastic group, as pymatgen/mlearn JSON lists. Reads ../shared data; writes nothing into the repo.

usage: /usr/bin/python3 split_strained.py TRAINING.json TEST.json OUTDIR
(Debian's python3 with python3-numpy, installed by .ci/setup.sh; a python3 earlier on PATH may lack numpy)
"""
import json
import sys
import numpy as np

train_path, test_path, out = sys.argv[1:4]
train = json.load(open(train_path))
test = json.load(open(test_path))


def cell(e):
    return np.array(e["structure"]["lattice"]["matrix"], float)


def vpa(e):
    return abs(np.linalg.det(cell(e))) / e["num_atoms"]


elastic = [e for e in train if e["group"] == "Elastic"]
# reference: the Elastic cell closest to a cube (the unstrained 2x2x2 diamond supercell)
def cubicness(c):
    g = c @ c.T
    return np.abs(g - np.eye(3) * np.trace(g) / 3).max()
ref = min(elastic, key=lambda e: cubicness(cell(e)))
c0 = cell(ref)


def strain(e):
    c = cell(e)
    # align by the metric (rotation invariant): C = C0 F^T -> G = C C^T, G0 = C0 C0^T
    f = np.linalg.solve(c0, c)  # c = c0 @ f  (rows are lattice vectors)
    # engineering strain: the stretch U - I, U = sqrt(F F^T) (rotation removed)
    w, v = np.linalg.eigh(f @ f.T)
    return v @ np.diag(np.sqrt(w)) @ v.T - np.eye(3)


others = [e for e in train if e["group"] != "Elastic"]
lo, hi = min(vpa(e) for e in others), max(vpa(e) for e in others)
kept, left = [], []
for e in train:
    reason = None
    if e["group"] == "Elastic" and np.abs(strain(e)).max() > 0.04 + 1e-6:
        reason = "strain"
    elif not (lo <= vpa(e) <= hi):
        reason = "volume"
    (left if reason else kept).append(e)
    if reason:
        e.setdefault("description", "")
print(f"reference cell V/atom {vpa(ref):.3f}; non-Elastic V/atom range {lo:.3f} .. {hi:.3f}")
print(f"kept {len(kept)} structures, left out {len(left)}: "
      f"{sum(1 for e in left if e['group'] == 'Elastic')} Elastic, {sum(1 for e in left if e['group'] != 'Elastic')} other")
print("left-out max |strain| / V per atom:", sorted(round(float(np.abs(strain(e)).max()), 3) for e in left if e["group"] == "Elastic"))
print("left-out V/atom:", sorted(round(vpa(e), 2) for e in left))
json.dump(kept, open(f"{out}/train-kept.json", "w"))
json.dump(left, open(f"{out}/train-left-out.json", "w"))
json.dump([e for e in test if e["group"] == "Elastic"], open(f"{out}/test-elastic.json", "w"))
