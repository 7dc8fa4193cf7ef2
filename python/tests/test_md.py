"""ASE's VelocityVerlet through MlipCalculator against `mlip md --ensemble nve` (velocity Verlet) from the same
positions and velocities: positions and velocities after 40 steps equal to 1e-8 (Å, Å/fs)."""

import os

import numpy as np
from ase import units
from ase.build import bulk
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
from ase.md.verlet import VelocityVerlet

from common import MLIP_AMU, MLIP_E, check, max_abs, mlip, model_and_dir, read_frames, report, write_exact_xyz

model, work = model_and_dir()
steps = 40
atoms = bulk('Si', 'diamond', 5.431, cubic=True).repeat((2, 1, 1))
atoms.rattle(0.03, seed=5)
MaxwellBoltzmannDistribution(atoms, temperature_K=800, rng=np.random.RandomState(11))
v0 = atoms.get_velocities() * units.fs  # Å/fs
write_exact_xyz(os.path.join(work, 'start.xyz'), [atoms], velocities=[v0])

# ASE's masses scaled so that its F/m·(e/amu) equals Mlip's (CODATA 2014 vs 2018; see common.py)
scale = (units._e / units._amu) / (MLIP_E / MLIP_AMU)
atoms.set_masses(atoms.get_masses() * scale)
atoms.set_velocities(v0 / units.fs)
with mlip.MlipCalculator(model) as calc:
    atoms.calc = calc
    VelocityVerlet(atoms, timestep=1.0 * units.fs).run(steps)
    e_ase = atoms.get_potential_energy()

out = mlip.run_json('md', os.path.join(work, 'start.xyz'), '--model', model, '--ensemble', 'nve', '--timestep', '1',
                    '--steps', str(steps), '--traj-every', str(steps), '-o', os.path.join(work, 'traj.xyz'))
final = read_frames(os.path.join(work, 'traj.xyz'))[-1]
dx = max_abs(final.positions, atoms.positions)
dv = max_abs(final.arrays['velocities'], atoms.get_velocities() * units.fs)
de = abs(out['final_potential_energy_ev'] - e_ase)
moved = float(np.max(np.linalg.norm(atoms.positions - read_frames(os.path.join(work, 'start.xyz'))[0].positions, axis=1)))
report(steps=steps, largest_displacement_a=moved, position_max_dev_a=dx, velocity_max_dev_a_fs=dv, energy_dev_ev=de)
check('positions', dx, 1e-8)
check('velocities', dv, 1e-8)
check('final energy', de, 1e-8)
