"""ASE's BFGS through MlipCalculator against `mlip relax` (L-BFGS): the same minimum, and every configuration BFGS
visited computed by `mlip predict` gives the energies and forces MlipCalculator gave (1e-8)."""

import os

import numpy as np
from ase.build import bulk
from ase.optimize import BFGS

from common import check, max_abs, mlip, model_and_dir, read_frames, report, write_exact_xyz

model, work = model_and_dir()
atoms = bulk('Si', 'diamond', 5.431, cubic=True)
atoms.rattle(0.08, seed=3)
start = atoms.copy()
write_exact_xyz(os.path.join(work, 'start.xyz'), [start])

visited, energies, forces = [], [], []
with mlip.MlipCalculator(model) as calc:
    atoms.calc = calc

    def record():
        visited.append(atoms.copy())
        energies.append(atoms.get_potential_energy())
        forces.append(atoms.get_forces().copy())

    opt = BFGS(atoms, logfile=None)
    opt.attach(record, interval=1)
    opt.run(fmax=1e-5, steps=500)

# every visited configuration, evaluated by Mlip itself
write_exact_xyz(os.path.join(work, 'visited.xyz'), visited)
mlip.run('predict', '--model', model, os.path.join(work, 'visited.xyz'), '-o', os.path.join(work, 'predicted.xyz'))
pred = read_frames(os.path.join(work, 'predicted.xyz'))
de = max(abs(p.get_potential_energy() - e) for p, e in zip(pred, energies))
df = max(max_abs(p.get_forces(), f) for p, f in zip(pred, forces))

# Mlip's own relaxation from the same start
out = mlip.run_json('relax', os.path.join(work, 'start.xyz'), '--model', model, '--algorithm', 'lbfgs', '--fmax', '1e-5',
                    '--steps', '2000', '-o', os.path.join(work, 'relaxed.xyz'))
relaxed = read_frames(os.path.join(work, 'relaxed.xyz'))[0]
d = relaxed.positions - atoms.positions
d -= d.mean(axis=0)  # the two may drift by a rigid translation (the energy does not see it)
frac = np.linalg.solve(atoms.cell[:].T, d.T).T
frac -= np.rint(frac)
dpos = float(np.max(np.linalg.norm(frac @ atoms.cell[:], axis=1)))
de_min = abs(out['energy_ev'] - atoms.get_potential_energy())
report(largest_move_a=float(np.max(np.linalg.norm(atoms.positions - start.positions, axis=1))), bfgs_steps=len(visited), mlip_steps=out['steps'], visited_energy_max_dev_ev=de, visited_force_max_dev_ev_a=df,
       relaxed_energy_dev_ev=de_min, relaxed_position_max_dev_a=dpos)
check('visited energies', de, 1e-8)
check('visited forces', df, 1e-8)
# both stop at fmax 1e-5 eV/Å: with curvatures of order 1-10 eV/Å² the remaining energy error is ≲ N·F²/k ~ 1e-9 eV
# and the position error ≲ F/k ~ 1e-5 Å; the bounds below leave room for the softest modes
check('relaxed energy', de_min, 1e-7)
check('relaxed positions', dpos, 1e-3)
