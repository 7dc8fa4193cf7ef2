#!/usr/bin/python3
"""Reference values for the VASP reader/writer tests (tests/Mlip.Tests/IO/VaspTests.cs), made with ASE.

Run with Debian's python3 and its python3-ase (3.22), in this folder:

    /usr/bin/python3 make_vasp_fixtures.py

Hand-written inputs (committed):
  OUTCAR_GaAs_relax           VASP 5.4.4-style OUTCAR: Ga_d/As PAW potentials, 4 atoms, ISIF=3
                              relaxation with 3 ionic steps, the cell changing between steps,
                              non-zero stress.
  POSCAR_vasp4_GaAs           VASP 4 POSCAR (element symbols only on the comment line), scale 5.65.
  POSCAR_cartesian_selective  VASP 5 POSCAR, scale 1.2, Cartesian, selective dynamics, trailing
                              atom labels and a velocity block.

Written here by ASE:
  ase_written_direct.vasp     write_vasp(direct=True) of a triclinic cell with non-contiguous
                              species (Si Si O Si O) and FixAtoms/FixScaled constraints.
  ase_written_cartesian.vasp  the same structure, Cartesian, no constraints.
  vasp_reference.json         what ASE reads from all of the files above (stresses in GPa, ASE
                              Voigt order xx yy zz yz xz xy, tension positive), plus the input of
                              the Mlip-written POSCAR below.

Written by Mlip (committed):
  mlip_written.vasp           PoscarFormat's output for vasp_reference.json["mlip_write_input"].
                              The C# test checks that Mlip still writes exactly this text; this
                              script checks that ASE reads it back as the input and stores ASE's
                              reading in vasp_reference.json["ase_read_of_mlip_written"]. If the
                              writer changes, the failing test saves its new output: copy it here
                              and run this script again.
"""
import json
import os
import re
import sys

import numpy as np
from ase import Atoms
from ase.constraints import FixAtoms, FixScaled
import ase.io

EV_PER_A3_IN_GPA = 160.21766208
HERE = os.path.dirname(os.path.abspath(__file__))


def path(name):
    return os.path.join(HERE, name)


def movable_flags(atoms):
    """Selective-dynamics flags as VASP writes them: 1 = T (free), 0 = F (fixed); None without constraints."""
    if not atoms.constraints:
        return None
    fixed = np.zeros((len(atoms), 3), dtype=bool)
    for c in atoms.constraints:
        if isinstance(c, FixAtoms):
            fixed[c.get_indices()] = True
        elif isinstance(c, FixScaled):
            fixed[c.a] = c.mask
        else:
            raise TypeError(f'unexpected constraint {c}')
    return (~fixed).astype(int).tolist()


def structure_dict(atoms):
    return {
        'symbols': atoms.get_chemical_symbols(),
        'cell': atoms.cell.array.tolist(),
        'positions': atoms.positions.tolist(),
        'selective_dynamics': movable_flags(atoms),
    }


def outcar_reference():
    frames = []
    for atoms in ase.io.read(path('OUTCAR_GaAs_relax'), index=':', format='vasp-out'):
        d = structure_dict(atoms)
        del d['selective_dynamics']
        d['energy'] = atoms.get_potential_energy()
        d['free_energy'] = atoms.calc.results['free_energy']
        d['forces'] = atoms.get_forces().tolist()
        d['stress_gpa'] = (atoms.get_stress() * EV_PER_A3_IN_GPA).tolist()
        frames.append(d)
    assert len(frames) == 3, len(frames)
    assert not np.allclose(frames[0]['cell'], frames[2]['cell']), 'the cell should change between steps'
    return frames


def ase_written_structure():
    cell = [[5.01, 0.0, 0.0], [-1.2, 4.87, 0.0], [0.3, -0.4, 6.2]]
    frac = [[0.0, 0.0, 0.0], [0.1234, 0.4567, 0.7891], [0.5, 0.25, 0.125],
            [0.9, 0.8, 0.3], [0.33, 0.66, 0.99]]
    atoms = Atoms('Si2OSiO', cell=cell, pbc=True)
    atoms.set_scaled_positions(frac)
    return atoms


def mlip_write_input():
    # Awkward numbers (17 significant digits, a negative fractional coordinate and one above 1)
    # to check that Mlip writes with round-trip precision and keeps the atom order.
    rng = np.random.default_rng(20240611)
    cell = np.array([[4.1, 0.0, 0.0], [0.7, 4.3, 0.0], [-0.5, 0.2, 5.9]]) + rng.uniform(-0.05, 0.05, (3, 3))
    frac = rng.uniform(0.0, 1.0, (5, 3))
    frac[1, 2] = -0.0625
    frac[3, 0] = 1.03125
    positions = frac @ cell
    return {
        'comment': 'Mlip round trip: GaAsGaGaAs',
        'symbols': ['Ga', 'As', 'Ga', 'Ga', 'As'],
        'cell': cell.tolist(),
        'positions': positions.tolist(),
        'selective_dynamics': [[1, 1, 1], [0, 0, 0], [1, 0, 1], [1, 1, 1], [0, 1, 0]],
    }


def check_mlip_written(expected):
    name = path('mlip_written.vasp')
    if not os.path.exists(name):
        print('mlip_written.vasp is missing: run the C# tests, copy the output they save, run again')
        return None
    atoms = ase.io.read(name, format='vasp')
    got = structure_dict(atoms)
    assert got['symbols'] == expected['symbols'], got['symbols']
    assert np.abs(np.array(got['cell']) - expected['cell']).max() < 1e-12
    assert np.abs(np.array(got['positions']) - expected['positions']).max() < 1e-12
    assert got['selective_dynamics'] == expected['selective_dynamics'], got['selective_dynamics']
    with open(name) as f:
        assert f.readline().strip() == expected['comment']
    print('ASE reads mlip_written.vasp back as the input (1e-12)')
    return got


def main():
    atoms = ase_written_structure()
    ase.io.write(path('ase_written_cartesian.vasp'), atoms, format='vasp', direct=False,
                 label='written by ASE, Cartesian')
    atoms.set_constraint([FixAtoms(indices=[0]), FixScaled(atoms.cell, 2, [True, False, True])])
    ase.io.write(path('ase_written_direct.vasp'), atoms, format='vasp', direct=True,
                 label='written by ASE, Direct, selective dynamics')

    poscars = {}
    for name in ['ase_written_direct.vasp', 'ase_written_cartesian.vasp',
                 'POSCAR_vasp4_GaAs', 'POSCAR_cartesian_selective']:
        poscars[name] = structure_dict(ase.io.read(path(name), format='vasp'))

    mlip_input = mlip_write_input()
    reference = {
        'outcar': outcar_reference(),
        'poscars': poscars,
        'mlip_write_input': mlip_input,
        'ase_read_of_mlip_written': check_mlip_written(mlip_input),
    }
    text = json.dumps(reference, indent=1)
    # One line per innermost list (a vector, a symbol list) keeps the file readable.
    text = re.sub(r'\[\s*([^\[\]{}]*?)\s*\]', lambda m: '[' + ' '.join(m.group(1).split()) + ']', text)
    with open(path('vasp_reference.json'), 'w') as f:
        f.write(text + '\n')
    print('wrote vasp_reference.json')


if __name__ == '__main__':
    sys.exit(main())
