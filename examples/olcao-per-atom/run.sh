#!/usr/bin/env bash
# End to end: make the data set, train linear/NN/GPR on multi-range bispectra (and linear on one cutoff,
# and the NN with the V_B(r) function loss),
# test on the held-out amorphous cell, predict its coefficients as extxyz columns and as an OLCAO potential file.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
mlip="$root/mlip"
mkdir -p "$here/data"
"$mlip" generate --target olcao --seed 7 -o "$here/data/si.xyz"
for m in linear linear-single nn nn-function gpr; do
  "$mlip" train "$here/$m.yaml"
done
"$mlip" test "$root/runs/olcao-linear/model.json" "$here/data/si.heldout.xyz"
"$mlip" predict "$root/runs/olcao-linear/model.json" "$here/data/si.heldout.xyz" -o "$root/runs/olcao-linear/heldout-predicted.xyz" --olcao "$root/runs/olcao-linear/scfV.dat"
