#!/usr/bin/python3
"""Writes the ASE database fixtures for tests/Mlip.Tests/IO/AseDatabaseTests.cs.

Run with Debian's ASE (3.22):  /usr/bin/python3 tests/Mlip.Tests/Data/make_ase_fixtures.py

Outputs, next to this script:
  ase_fixtures.json           ASE JSON database   (ase.db.connect(..., type='json'))
  ase_fixtures.db             ASE SQLite database (ase.db.connect(..., type='db'))
  ase_fixtures_expected.json  what a reader must get out of either (the same rows), in Mlip's units
                              (stress in GPa, tension positive, ASE Voigt order)

The same four rows go into both databases:
  1. bulk Si, 2x1x1, rattled, SinglePointCalculator with energy, free energy, forces and stress;
     tags, a weight key and a per-atom array plus non-per-atom things in `data`
  2. rocksalt NaCl (two elements, non-orthogonal primitive cell, periodic) with charges, magmoms,
     magmom, initial magmoms, masses, momenta and key_value_pairs config_type=rocksalt, an integer
     and a boolean key
  3. an H2O molecule, pbc F F F and no cell, with energy, forces and a dipole, group=molecule
  4. an Al(111) slab, pbc T T F, energy only, with initial charges

Timestamps, unique ids and the user name are pinned so the fixtures are reproducible.
The SQLite file is vacuumed to 512-byte pages afterwards to keep it small; that changes only the
page layout, not the tables ASE wrote.
"""

import json
import os
import random
import sqlite3

import numpy as np

import ase.db
import ase.db.core
import ase.db.jsondb
import ase.db.sqlite
from ase.build import bulk, fcc111, molecule
from ase.calculators.singlepoint import SinglePointCalculator

EV_PER_A3_IN_GPA = 160.21766208
HERE = os.path.dirname(os.path.abspath(__file__))

# Reproducible metadata: ctime/mtime, unique_id and user.
FIXED_TIME = 21.5
ase.db.jsondb.now = lambda: FIXED_TIME
ase.db.sqlite.now = lambda: FIXED_TIME
os.environ['USER'] = 'mlip-fixture'


def structures():
    rng = np.random.RandomState(42)

    si = bulk('Si', 'diamond', a=5.43) * (2, 1, 1)
    si.rattle(0.02, seed=7)
    si.set_tags([1, 2, 3, 4, 5, 6, 7, 8][:len(si)])
    si.calc = SinglePointCalculator(
        si,
        energy=-43.123456789012345,
        free_energy=-43.2001,
        forces=rng.normal(scale=0.3, size=(len(si), 3)),
        stress=np.array([0.0123, -0.0045, 0.0067, 0.00111, -0.00222, 0.00333]))
    si_kvp = dict(weight=2.5, source='rattled bulk')
    si_data = {'ref_energies': rng.normal(size=len(si)),
               'bec': rng.normal(size=(len(si), 3)),
               'matrix': np.eye(3),
               'note': 'not per-atom'}

    nacl = bulk('NaCl', 'rocksalt', a=5.64)
    nacl.positions += rng.normal(scale=0.01, size=nacl.positions.shape)
    nacl.set_initial_magnetic_moments([0.5, -0.25])
    nacl.set_masses([23.0, 35.5])
    nacl.set_momenta(rng.normal(size=(2, 3)))
    nacl.calc = SinglePointCalculator(
        nacl,
        energy=-6.75,
        forces=rng.normal(scale=0.1, size=(2, 3)),
        stress=rng.normal(scale=0.01, size=6),
        charges=np.array([0.81, -0.81]),
        magmoms=np.array([0.125, -0.0625]),
        magmom=0.0625)
    nacl_kvp = dict(config_type='rocksalt', n_kpts=8, relaxed=True)

    h2o = molecule('H2O')
    h2o.calc = SinglePointCalculator(
        h2o,
        energy=-14.22,
        forces=rng.normal(scale=0.2, size=(3, 3)),
        dipole=np.array([0.0, 0.0, 0.384]))
    h2o_kvp = dict(group='molecule')

    slab = fcc111('Al', size=(1, 1, 3), vacuum=6.0)
    slab.set_initial_charges([0.0, 0.1, -0.1])
    slab.calc = SinglePointCalculator(slab, energy=-11.5)
    slab_kvp = {}

    return [(si, si_kvp, si_data), (nacl, nacl_kvp, {}), (h2o, h2o_kvp, {}), (slab, slab_kvp, {})]


def write_db(path, rows):
    if os.path.exists(path):
        os.remove(path)
    random.seed(1234)  # unique_id comes from random.randint
    db = ase.db.connect(path, create_indices=False)
    for atoms, kvp, data in rows:
        db.write(atoms, key_value_pairs=kvp, data=data)
    return db


def per_atom(a):
    a = np.asarray(a)
    return {'components': int(a.size // a.shape[0]), 'values': [float(x) for x in a.ravel()],
            'integer': bool(a.dtype.kind in 'iub')}


def expected(db):
    out = []
    for row in db.select():
        e = {
            'id': row.id,
            'numbers': [int(z) for z in row.numbers],
            'positions': [float(x) for x in row.positions.ravel()],
            'cell': [float(x) for x in np.asarray(row.cell).ravel()],
            'pbc': [bool(p) for p in row.pbc],
            'energy': row.get('energy'),
            'forces': None if row.get('forces') is None else [float(x) for x in row.forces.ravel()],
            'stress_gpa': None if row.get('stress') is None
            else [float(x) * EV_PER_A3_IN_GPA for x in row.stress],
            'info': {'unique_id': row.unique_id, 'ctime': row.ctime, 'user': row.user,
                     'calculator': row.calculator},
            'key_value_pairs': row.key_value_pairs,
            'arrays': {},
        }
        for key in ['free_energy', 'magmom']:
            if row.get(key) is not None:
                e['info'][key] = float(row.get(key))
        if row.get('dipole') is not None:
            e['info']['dipole'] = [float(x) for x in row.dipole]
        for key in ['charges', 'magmoms', 'momenta', 'initial_magmoms', 'initial_charges', 'tags',
                    'masses']:
            if row.get(key) is not None:
                e['arrays'][key] = per_atom(row.get(key))
        for key, value in row.data.items():
            if isinstance(value, np.ndarray) and value.ndim >= 1 and value.shape[0] == row.natoms \
                    and value.dtype.kind in 'iufb':
                e['arrays'][key] = per_atom(value)
        kvp = row.key_value_pairs
        e['group'] = kvp.get('config_type', kvp.get('group'))
        e['weight'] = float(kvp.get('weight', 1.0))
        out.append(e)
    return out


def main():
    rows = structures()
    json_path = os.path.join(HERE, 'ase_fixtures.json')
    db_path = os.path.join(HERE, 'ase_fixtures.db')
    json_db = write_db(json_path, rows)
    sql_db = write_db(db_path, rows)

    con = sqlite3.connect(db_path)
    con.execute('PRAGMA page_size = 512')
    con.execute('VACUUM')
    con.close()

    exp_json = expected(json_db)
    exp_db = expected(ase.db.connect(db_path))
    # Both databases must hold exactly the same rows (unique ids too: random is seeded per file).
    assert json.dumps(exp_json, sort_keys=True) == json.dumps(exp_db, sort_keys=True)

    with open(os.path.join(HERE, 'ase_fixtures_expected.json'), 'w') as f:
        f.write('{"ase_version": %s,\n "ev_per_a3_in_gpa": %r,\n "rows": [\n' %
                (json.dumps(ase.__version__), EV_PER_A3_IN_GPA))
        f.write(',\n'.join('  ' + json.dumps(e) for e in exp_json))
        f.write('\n]}\n')


if __name__ == '__main__':
    main()
