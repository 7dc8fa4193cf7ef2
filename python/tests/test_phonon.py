"""phonopy's finite-displacement workflow with forces from MlipCalculator against `mlip phonon`: phonopy is given
Mlip's displacements (every atom of the 2-atom cell ±0.01 Å along x, y, z), Mlip's masses and THz factor, and its
frequencies at Γ and along Mlip's band path equal Mlip's."""

import os

import numpy as np
import phonopy
from phonopy import Phonopy
from phonopy.structure.atoms import PhonopyAtoms
from ase import Atoms
from ase.build import bulk

from common import check, mlip, model_and_dir, report, write_exact_xyz

model, work = model_and_dir()
prim = bulk('Si', 'diamond', 5.43)  # the 2-atom primitive cell
write_exact_xyz(os.path.join(work, 'prim.xyz'), [prim])
h, n = 0.01, 2
out = mlip.run_json('phonon', os.path.join(work, 'prim.xyz'), '--model', model, '--supercell', str(n), str(n), str(n),
                    '--displacement', str(h), '--points', '4', '--mesh', '2', '2', '2')

factor = np.sqrt(1.602176634e-19 / (1e-20 * 1.66053906660e-27)) / (2 * np.pi) / 1e12  # Mlip's √(eV/Å²/amu) in THz
unit = PhonopyAtoms(symbols=prim.get_chemical_symbols(), cell=prim.cell[:], scaled_positions=prim.get_scaled_positions(),
                    masses=[28.085] * len(prim))
ph = Phonopy(unit, supercell_matrix=np.diag([n, n, n]), primitive_matrix=None, factor=factor)
sc = ph.supercell
# Mlip's displacements: each atom of the unit cell (the first of its images in phonopy's supercell), ±h along x, y, z
first = [int(ph.primitive.p2s_map[i]) for i in range(len(prim))]
dataset = {'natom': len(sc), 'first_atoms': []}
for i in first:
    for k in range(3):
        for sign in (1, -1):
            d = np.zeros(3)
            d[k] = sign * h
            dataset['first_atoms'].append({'number': i, 'displacement': d})
ph.dataset = dataset
forces = []
with mlip.MlipCalculator(model) as calc:
    for cell in ph.supercells_with_displacements:
        a = Atoms(cell.symbols, cell=cell.cell, scaled_positions=cell.scaled_positions, pbc=True)
        a.calc = calc
        forces.append(a.get_forces().copy())
ph.forces = np.array(forces)
ph.produce_force_constants()



def deviation(f, g):
    """Largest difference of frequencies (THz) over modes away from zero, and of signed squares f|f| (THz², the
    eigenvalues) over the acoustic modes at Γ, whose frequencies are square roots of round-off (±1e-7 THz)."""
    f, g = np.sort(np.asarray(f)), np.sort(np.asarray(g))
    soft = (np.abs(f) < 0.1) & (np.abs(g) < 0.1)
    df = float(np.max(np.abs(f - g)[~soft])) if (~soft).any() else 0.0
    d2 = float(np.max(np.abs(f * np.abs(f) - g * np.abs(g))[soft])) if soft.any() else 0.0
    return df, d2


gamma = ph.get_frequencies([0, 0, 0])
dg, dg2 = deviation(gamma, out['gamma_thz'])
qs = out['bands']['q_points']
mine = out['bands']['frequencies_thz']
devs = [deviation(ph.get_frequencies(q), m) for q, m in zip(qs, mine)]
db, db2 = max(d[0] for d in devs), max(d[1] for d in devs)
report(phonopy=phonopy.__version__, displacements=len(forces), q_points=len(qs), gamma_max_dev_thz=dg,
       gamma_acoustic_eigenvalue_dev_thz2=dg2, band_max_dev_thz=db, band_acoustic_eigenvalue_dev_thz2=db2,
       top_thz=float(np.max(gamma)))
check('Γ frequencies', dg, 1e-8)
check('Γ acoustic eigenvalues', dg2, 1e-8)
check('band frequencies', db, 1e-8)
check('band acoustic eigenvalues', db2, 1e-8)
