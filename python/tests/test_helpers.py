"""The command helpers and the uncertainty: `mlip.read_model_info`, `mlip.test`, `mlip.train` and `mlip.fit` return the command's
JSON; a small sparse GPR trained through `mlip.train` gives, through MlipCalculator, the energies, per-atom energies
and energy_std that `mlip predict --uncertainty` writes for the same structures (1e-8)."""

import os
import sys

import numpy as np

from common import check, max_abs, mlip, read_frames, report, write_exact_xyz

demo, work = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
os.makedirs(work, exist_ok=True)
model = os.path.join(demo, 'model', 'model.json')

info = mlip.read_model_info(model)
assert info['kind'] == 'quadratic' and info['elements'] == ['Si'] and info['descriptor'] == 'so4', info
errors = mlip.test(model, os.path.join(demo, 'test.xyz'), threads=1)
assert 'energy' in str(errors).lower(), errors
with open(os.path.join(work, 'gpr.yaml'), 'w') as f:
    f.write('train: {}\n'.format(os.path.join(demo, 'train.xyz')))
    f.write('descriptor: {type: so4, parameters: {twojmax: 4, rcutfac: 4.7, rfac0: 0.99363}}\n')
    f.write('model: {kind: gpr, sparse: 40}\n')
    f.write('loss: {energy: 1.0, force: 0.05, stress: 0.0}\nseed: 1\nthreads: 1\noutput: gpr\n')
trained = mlip.train('gpr.yaml', cwd=work)
gpr = trained['model']
assert mlip.read_model_info(gpr)['kind'] == 'gpr'

searched = mlip.fit(os.path.join(demo, 'train.xyz'), budget=0.2, output='fitrun', cwd=work)
assert searched['report'] is not None and 'chosen' in searched['report'], searched
fitted_kind = mlip.read_model_info(searched['model'])['kind']

frames = read_frames(os.path.join(demo, 'test.xyz'))[:4]
got = []
with mlip.MlipCalculator(gpr) as calc:
    for a in frames:
        a = a.copy()
        a.calc = calc
        a.get_potential_energy()
        got.append(dict(calc.results))
write_exact_xyz(os.path.join(work, 'frames.xyz'), frames)
mlip.run('predict', '--model', gpr, os.path.join(work, 'frames.xyz'), '--uncertainty', '-o', os.path.join(work, 'pred.xyz'))
pred = read_frames(os.path.join(work, 'pred.xyz'))
de = max(abs(p.get_potential_energy() - g['energy']) for p, g in zip(pred, got))
dstd = max(abs(p.info['energy_std'] - g['energy_std']) for p, g in zip(pred, got))
dsum = max(abs(g['energies'].sum() - g['energy']) for g in got)
# D-optimality of the demo's quadratic model over its training data: the same per-atom gamma and score as mlip predict
train_xyz = os.path.join(demo, 'train.xyz')
dopt = []
with mlip.MlipCalculator(model, uncertainty=True, training=train_xyz) as calc:
    for a in frames:
        a = a.copy()
        a.calc = calc
        a.get_potential_energy()
        dopt.append(dict(calc.results))
mlip.run('predict', '--model', model, os.path.join(work, 'frames.xyz'), '--uncertainty', '--training', train_xyz,
         '-o', os.path.join(work, 'pred-dopt.xyz'))
pred_dopt = read_frames(os.path.join(work, 'pred-dopt.xyz'))
dgamma = max(max_abs(np.array(p.arrays['gamma']).ravel(), g['gamma']) for p, g in zip(pred_dopt, dopt))
dscore = max(abs(p.info['uncertainty'] - g['uncertainty']) for p, g in zip(pred_dopt, dopt))
report(model_kind=info['kind'], fit_chose=fitted_kind, test_keys=sorted(errors)[:6], gpr_metrics=sorted(trained['metrics'] or {})[:6],
       energy_max_dev_ev=de, energy_std_max_dev_ev=dstd, energy_std=[g['energy_std'] for g in got],
       per_atom_sum_dev_ev=dsum, gamma_max_dev=dgamma, uncertainty_score_max_dev=dscore,
       dopt_scores=[g['uncertainty'] for g in dopt])
check('gamma (D-optimality)', dgamma, 1e-8)
check('uncertainty score', dscore, 1e-8)
check('energies', de, 1e-8)
check('energy_std', dstd, 1e-8)
check('per-atom energies sum to the energy', dsum, 1e-8)
