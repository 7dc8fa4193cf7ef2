"""Shared by the tests of the Python package: run from the repository (PYTHONPATH=python) with MLIP_COMMAND set
to the built command; each script prints one JSON line of measured deviations and exits non-zero on a failure."""

import json
import os
import sys

import numpy as np
from ase.io import read

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

import mlip  # noqa: E402

# CODATA 2018 (Mlip) and ASE 3.22's CODATA 2014 constants: ASE's equations of motion equal Mlip's when each mass is
# scaled by (e/amu)_2014 / (e/amu)_2018 (both integrate F/m in Å/fs² times e/amu·1e-10).
MLIP_AMU = 1.66053906660e-27
MLIP_E = 1.602176634e-19


def write_exact_xyz(path, frames, velocities=None):
    """extxyz with every digit (ASE's writer keeps 8 decimals): species, positions, optionally velocities (Å/fs)."""
    with open(path, 'w') as f:
        for k, a in enumerate(frames):
            cell = ' '.join(repr(float(x)) for x in a.cell[:].ravel())
            props = 'species:S:1:pos:R:3' + (':velocities:R:3' if velocities is not None else '')
            pbc = ' '.join('T' if b else 'F' for b in a.pbc)
            f.write('{}\nLattice="{}" Properties={} pbc="{}"\n'.format(len(a), cell, props, pbc))
            for i, (s, p) in enumerate(zip(a.get_chemical_symbols(), a.positions)):
                row = [s] + [repr(float(x)) for x in p]
                if velocities is not None:
                    row += [repr(float(x)) for x in velocities[k][i]]
                f.write(' '.join(row) + '\n')


def read_frames(path):
    return read(path, ':')


def report(**values):
    print(json.dumps(values))


def check(name, value, tolerance):
    if not (value <= tolerance):
        raise SystemExit('FAIL {}: {:.3e} > {:.1e}'.format(name, value, tolerance))


def model_and_dir():
    if len(sys.argv) < 3:
        raise SystemExit('usage: {} MODEL WORKDIR'.format(sys.argv[0]))
    os.makedirs(sys.argv[2], exist_ok=True)
    return os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])


def max_abs(a, b):
    return float(np.max(np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float))))
