"""Makes the extxyz fixtures with Debian's ASE (run with /usr/bin/python3 from this folder).

ase_frames.extxyz: frames written by ASE itself (energies, forces, stress, info, extra arrays,
a non-periodic molecule, a slab); ase_frames.expected.json: what ASE reads back, stress in GPa.
"""
import json
import numpy as np
from ase import Atoms
from ase.build import bulk, molecule, fcc111
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read, write
from ase.units import GPa

rng = np.random.default_rng(2026)
frames = []

si = bulk("Si", "diamond", a=5.43, cubic=True)
si.rattle(0.05, seed=1)
si.cell[1, 0] = 0.4  # make it triclinic
si.calc = SinglePointCalculator(si, energy=-43.21, forces=rng.normal(size=(8, 3)),
                                stress=rng.normal(size=6) * 0.01)
si.info["config_type"] = "bulk"
si.info["temperature"] = 300.0
si.info["note"] = "rattled diamond"
frames.append(si)

gaas = bulk("GaAs", "zincblende", a=5.65) * (2, 1, 1)
gaas.set_initial_charges(rng.normal(size=len(gaas)))
gaas.new_array("coeffs", rng.normal(size=(len(gaas), 4)))
gaas.calc = SinglePointCalculator(gaas, energy=-17.5, forces=rng.normal(size=(len(gaas), 3)))
frames.append(gaas)

h2o = molecule("H2O")
h2o.calc = SinglePointCalculator(h2o, energy=-14.2, forces=rng.normal(size=(3, 3)))
frames.append(h2o)

slab = fcc111("Cu", size=(2, 2, 3), vacuum=6.0)
slab.pbc = (True, True, False)
slab.calc = SinglePointCalculator(slab, energy=-40.0, forces=rng.normal(size=(len(slab), 3)))
frames.append(slab)

write("ase_frames.extxyz", frames, format="extxyz")

expected = []
for a in read("ase_frames.extxyz", index=":"):
    e = {
        "numbers": a.numbers.tolist(),
        "cell": a.cell.array.tolist(),
        "pbc": a.pbc.tolist(),
        "positions": a.positions.tolist(),
        "energy": a.get_potential_energy(),
        "forces": a.get_forces().tolist(),
    }
    try:
        e["stress_gpa"] = (a.get_stress(voigt=True) / GPa).tolist()
    except Exception:
        pass
    expected.append(e)
json.dump(expected, open("ase_frames.expected.json", "w"), indent=1)
