#!/usr/bin/env bash
# A two-element training and test set for `mlip fit` (docs/fit.md, "Two elements"): zincblende 3C-SiC labelled with
# LAMMPS's SiC.tersoff (Erhart-Albe form as shipped with LAMMPS; Debian's lammps-data puts it under
# /usr/share/lammps/potentials). `mlip generate` makes strained and rattled cells, 64-atom cells, rock salt,
# vacancies, antisite pairs, (100) surfaces and MD snapshots at 300/900/1500 K. Nothing here is committed: the files go to OUT.
#   examples/fit-sic/make-data.sh [OUT]        (default: a fresh folder under /tmp)
#   ./mlip fit OUT/sic-train.xyz --test OUT/sic-test.xyz --budget 8 -o OUT/fit
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:-$(mktemp -d /tmp/fit-sic.XXXXXX)}"
potential="${SIC_TERSOFF:-/usr/share/lammps/potentials/SiC.tersoff}"
[ -f "$potential" ] || { echo "make-data.sh: $potential not found (apt-get install lammps-data, or set SIC_TERSOFF)" >&2; exit 1; }
mkdir -p "$out"
"$root/mlip" generate --potential "tersoff:$potential" --element Si,C --seed 1 -o "$out/sic-train.xyz"
"$root/mlip" generate --potential "tersoff:$potential" --element Si,C --seed 2 --quick -o "$out/sic-test.xyz"
echo "$out/sic-train.xyz $out/sic-test.xyz"
