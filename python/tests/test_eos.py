"""ASE's EquationOfState through MlipCalculator against `mlip eos`: the energies at Mlip's volumes equal (1e-8 eV),
and ASE's Birch–Murnaghan fit of them gives Mlip's E0, V0 and B0 (both least-squares fits of the same form)."""

import os

from ase import units
from ase.build import bulk
from ase.eos import EquationOfState

from common import check, mlip, model_and_dir, report, write_exact_xyz

model, work = model_and_dir()
atoms = bulk('Si', 'diamond', 5.43, cubic=True)
write_exact_xyz(os.path.join(work, 'si.xyz'), [atoms])
out = mlip.run_json('eos', os.path.join(work, 'si.xyz'), '--model', model)
cell0, v0 = atoms.cell[:].copy(), atoms.get_volume()
energies = []
with mlip.MlipCalculator(model) as calc:
    for v in out['volumes_a3']:
        a = atoms.copy()
        a.set_cell(cell0 * (v / v0) ** (1 / 3), scale_atoms=True)
        a.calc = calc
        energies.append(a.get_potential_energy())
de = max(abs(x - y) for x, y in zip(energies, out['energies_ev']))
eos = EquationOfState(out['volumes_a3'], energies, eos='birchmurnaghan')
v_fit, e_fit, b_fit = eos.fit()
b_gpa = b_fit / units.GPa
dv, dE, dB = abs(v_fit - out['v0_a3']) / out['v0_a3'], abs(e_fit - out['e0_ev']), abs(b_gpa - out['b0_gpa']) / out['b0_gpa']
report(points=len(energies), energy_max_dev_ev=de, v0_rel_dev=dv, e0_dev_ev=dE, b0_rel_dev=dB, v0_a3=v_fit, b0_gpa=b_gpa)
check('energies', de, 1e-8)
# two least-squares fits of the Birch–Murnaghan form (scipy's curve_fit in ASE, Mlip's own) converge to the same
# minimum within their stopping tolerances
check('V0', dv, 1e-6)
check('E0', dE, 1e-8)
check('B0', dB, 1e-5)
