"""1000 calls through MlipCalculator (8-atom Si, positions changed each call): the time per call, and every result
equal to Mlip's own (`mlip predict` of the same 1000 configurations, 1e-8)."""

import os
import sys
import time

import numpy as np
from ase.build import bulk

from common import check, max_abs, mlip, model_and_dir, read_frames, report, write_exact_xyz



def server_cpu(pid):
    """CPU seconds (user + system) the server has used: CPU time, unlike wall time, hardly depends on the machine's load."""
    with open('/proc/{}/stat'.format(pid)) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


model, work = model_and_dir()
calls = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
atoms = bulk('Si', 'diamond', 5.431, cubic=True)
rng = np.random.RandomState(1)
base = atoms.positions.copy()
frames, energies, forces = [], [], []
with mlip.MlipCalculator(model) as calc:
    atoms.calc = calc
    atoms.get_potential_energy()  # start the server outside the timing
    server0 = server_cpu(calc.server_pid)
    t0, c0 = time.perf_counter(), time.process_time()
    for k in range(calls):
        atoms.positions = base + rng.uniform(-0.05, 0.05, base.shape)
        energies.append(atoms.get_potential_energy())
        forces.append(atoms.get_forces())
        frames.append(atoms.copy())
    seconds, python_cpu = time.perf_counter() - t0, time.process_time() - c0
    serve_cpu = server_cpu(calc.server_pid) - server0
write_exact_xyz(os.path.join(work, 'frames.xyz'), frames)
mlip.run('predict', '--model', model, os.path.join(work, 'frames.xyz'), '-o', os.path.join(work, 'pred.xyz'))
pred = read_frames(os.path.join(work, 'pred.xyz'))
de = max(abs(p.get_potential_energy() - e) for p, e in zip(pred, energies))
df = max(max_abs(p.get_forces(), f) for p, f in zip(pred, forces))
report(calls=calls, atoms=len(atoms), seconds=seconds, us_per_call=1e6 * seconds / calls,
       python_cpu_us_per_call=1e6 * python_cpu / calls, serve_cpu_us_per_call=1e6 * serve_cpu / calls, energy_max_dev_ev=de,
       force_max_dev_ev_a=df)
if len(pred) != calls:
    raise SystemExit('FAIL: {} configurations predicted, {} computed'.format(len(pred), calls))
check('energies', de, 1e-8)
check('forces', df, 1e-8)
