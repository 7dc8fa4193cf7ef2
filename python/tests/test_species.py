"""One MlipCalculator for structures of different sizes, species and periodicity (Stillinger–Weber Si and a Si/C/Ge
Tersoff-like change of species through a classical potential): energies, forces, stresses and per-atom energies equal
`mlip label`'s of the same structures; a refused structure raises MlipServerError naming the reason, and the next
call starts a new server."""

import os

import numpy as np
from ase import Atoms
from ase.build import bulk

from common import check, max_abs, mlip, model_and_dir, read_frames, report, write_exact_xyz

model, work = model_and_dir()
si8 = bulk('Si', 'diamond', 5.431, cubic=True)
si8.rattle(0.05, seed=1)
si16 = si8.repeat((1, 1, 2))
si16.rattle(0.02, seed=2)
cluster = Atoms('Si5', positions=[[0, 0, 0], [2.3, 0, 0], [0, 2.3, 0], [0, 0, 2.35], [1.3, 1.3, 1.3]])
frames = [si8, si16, cluster, si8]
results = []
with mlip.MlipCalculator(potential='sw') as calc:
    for a in frames:
        a = a.copy()
        a.calc = calc
        r = dict(energy=a.get_potential_energy(), forces=a.get_forces().copy(), energies=a.get_potential_energies().copy())
        if a.pbc.all():
            r['stress'] = a.get_stress().copy()
        results.append(r)
    error = None
    try:
        x = bulk('Cu', 'fcc', 3.6)
        x.calc = calc
        x.get_potential_energy()
    except mlip.MlipServerError as e:
        error = str(e).strip().splitlines()[-1]
    again = si8.copy()
    again.calc = calc
    e_again = again.get_potential_energy()

write_exact_xyz(os.path.join(work, 'frames.xyz'), frames)
mlip.run('label', os.path.join(work, 'frames.xyz'), '--potential', 'sw', '-o', os.path.join(work, 'labelled.xyz'))
ref = read_frames(os.path.join(work, 'labelled.xyz'))
de = max(abs(r.get_potential_energy() - x['energy']) for r, x in zip(ref, results))
df = max(max_abs(r.get_forces(), x['forces']) for r, x in zip(ref, results))
ds = max(max_abs(r.get_stress(), x['stress']) for r, x in zip(ref, results) if 'stress' in x)
dsum = max(abs(x['energies'].sum() - x['energy']) for x in results)
report(structures=len(frames), energy_max_dev_ev=de, force_max_dev_ev_a=df, stress_max_dev_ev_a3=ds,
       per_atom_sum_dev_ev=dsum, refused=error, energy_after_restart_dev_ev=abs(e_again - results[0]['energy']))
check('energies', de, 1e-8)
check('forces', df, 1e-8)
check('stresses', ds, 1e-10)
check('per-atom energies sum to the energy', dsum, 1e-8)
check('same energy from a restarted server', abs(e_again - results[0]['energy']), 1e-10)
if error is None or 'Cu' not in error:
    raise SystemExit('FAIL: a Cu structure for an SW-Si calculator raised no MlipServerError naming Cu: {}'.format(error))
