"""``MlipCalculator``: an ASE calculator that computes with ``mlip serve`` over a private UNIX socket."""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import weakref

import numpy as np
import ase.units as units
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.socketio import IPIProtocol, SocketClosed
from ase.stress import full_3x3_to_voigt_6_stress

from .commands import find_command

__all__ = ['MlipCalculator', 'MlipServerError']


class MlipServerError(RuntimeError):
    """``mlip serve`` refused a structure, failed to start or ended; the message holds its last lines."""


class _Server:
    """The ``mlip serve`` process, its connection and its private folder: what the finaliser closes."""

    def __init__(self):
        self.proc = None
        self.conn = None
        self.protocol = None
        self.folder = None
        self.log = None
        self.sent = None  # (numbers, pbc) last sent in INIT

    def output(self):
        if self.log is None:
            return ''
        try:
            self.log.flush()
            with open(self.log.name, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except OSError:
            return ''

    def close(self):
        """EXIT to the server, then waits for it (kills it after 10 s); removes the socket folder."""
        if self.protocol is not None:
            try:
                self.protocol.end()
            except OSError:
                pass
        if self.conn is not None:
            try:
                self.conn.close()
            except OSError:
                pass
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log is not None:
            self.log.close()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
        self.proc = self.conn = self.protocol = self.folder = self.log = self.sent = None


class MlipCalculator(Calculator):
    """An ASE calculator for a Mlip model (any file ``mlip`` reads: model.json, .ace/.yace, LAMMPS snap, ...) or a
    classical potential (``potential='sw'``, ``'tersoff'``, ``'eam:FILE'``, ...).

    The first calculation starts ``mlip serve`` on a UNIX socket in a private temporary folder and keeps it for
    the calculator's life; each calculation is one i-PI exchange (positions and cell out; energy, forces, virial
    back). Atom counts and species may change between calls: Mlip's JSON INIT sends them when they do. Results:
    ``energy``, ``free_energy``, ``forces``, ``stress`` (periodic cells), ``energies`` (per atom) and, where the
    model has one (GPR), ``energy_std`` (eV).

    The server ends with the calculator: ``close()``, ``with MlipCalculator(...) as calc:``, garbage collection,
    or the interpreter's exit; if Python is killed, the server sees its socket close (and watches the Python
    process) and exits.
    """

    implemented_properties = ['energy', 'free_energy', 'forces', 'stress', 'energies', 'energy_std',
                              'uncertainty', 'force_std', 'gamma']

    def __init__(self, model=None, potential=None, command=None, timeout=120.0, log=None,
                 uncertainty=False, committee=None, training=None, active_set=None, **kwargs):
        """``model``: a model file; or ``potential``: a classical potential name. ``command``: the ``mlip`` command
        (default: :func:`mlip.find_command`). ``timeout``: seconds to wait for the server to start. ``log``: a
        text file that gets the protocol messages (debugging).

        ``uncertainty=True`` adds the model's uncertainty to ``results`` as ``mlip predict --uncertainty`` computes it:
        ``uncertainty`` (the score), and where the method gives them ``energy_std`` (eV), ``force_std`` (eV/Å, per atom)
        and ``gamma`` (the per-atom extrapolation grade). ``committee``: more model files (the committee's spread);
        ``training``: training data files (D-optimality of linear/quadratic models, or the ACE grade built over them);
        ``active_set``: an ACE active set (.asi; default MODEL.asi beside an .ace/.yace)."""
        super().__init__(**kwargs)
        if (model is None) == (potential is None):
            raise ValueError('MlipCalculator: give a model file or potential=NAME (one of the two)')
        if model is not None and not os.path.exists(model):
            raise FileNotFoundError('MlipCalculator: no model file {}'.format(model))
        self.model = None if model is None else os.path.abspath(os.fspath(model))
        self.potential = potential
        self.command = find_command(command)
        self.timeout = timeout
        self.protocol_log = log
        self.uncertainty_args = []
        if uncertainty:
            self.uncertainty_args = ['--uncertainty']
            if committee:
                self.uncertainty_args += ['--committee'] + [os.path.abspath(os.fspath(m)) for m in committee]
            if training:
                files = [training] if isinstance(training, (str, os.PathLike)) else list(training)
                self.uncertainty_args += ['--training'] + [os.path.abspath(os.fspath(t)) for t in files]
            if active_set:
                self.uncertainty_args += ['--active-set', os.path.abspath(os.fspath(active_set))]
        elif committee or training or active_set:
            raise ValueError('MlipCalculator: committee, training and active_set go with uncertainty=True')
        self._server = _Server()
        self._finalizer = weakref.finalize(self, _Server.close, self._server)

    # -- life cycle ---------------------------------------------------------------------------------------------

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Stops the server (a later calculation starts a new one)."""
        self._server.close()

    @property
    def server_pid(self):
        """The process id of ``mlip serve``, or None before the first calculation."""
        return None if self._server.proc is None else self._server.proc.pid

    def _start(self):
        s = self._server
        s.folder = tempfile.mkdtemp(prefix='mlip-calc-')
        path = os.path.join(s.folder, 'ipi.sock')
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(path)
            listener.listen(1)
            argv = self.command + ['serve', '--ipi', 'unix:' + path, '--io-timeout', '0',
                                   '--parent-pid', str(os.getpid())]
            argv += ['--model', self.model] if self.model is not None else ['--potential', self.potential]
            argv += self.uncertainty_args
            s.log = open(os.path.join(s.folder, 'serve.log'), 'w+b')
            # a session of its own: Ctrl-C in the terminal interrupts Python, not the server between two calls
            s.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=s.log, stderr=subprocess.STDOUT,
                                      start_new_session=True)
            listener.settimeout(0.2)
            deadline = time.monotonic() + self.timeout
            while True:
                try:
                    conn, _ = listener.accept()
                    break
                except socket.timeout:
                    if s.proc.poll() is not None:
                        raise MlipServerError('mlip serve ended before connecting (exit {}):\n{}'.format(
                            s.proc.returncode, s.output().strip()))
                    if time.monotonic() > deadline:
                        raise MlipServerError('mlip serve did not connect within {} s:\n{}'.format(
                            self.timeout, s.output().strip()))
        except BaseException:
            s.close()
            raise
        finally:
            listener.close()
        os.unlink(path)
        conn.settimeout(None)
        s.conn = conn
        s.protocol = IPIProtocol(conn, txt=self.protocol_log)

    def _send_init(self, payload):
        data = np.frombuffer(json.dumps(payload).encode('utf-8'), dtype=np.byte)
        p = self._server.protocol
        p.sendmsg('INIT')
        p.send(0, np.int32)
        p.send(len(data), np.int32)
        p.send(data, np.byte)

    # -- calculation --------------------------------------------------------------------------------------------

    def calculate(self, atoms=None, properties=('energy',), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        s = self._server
        if s.protocol is None:
            self._start()
        try:
            species = ([int(z) for z in atoms.numbers], [bool(b) for b in atoms.pbc])
            if species != s.sent:
                self._send_init({'mlip': 1, 'numbers': species[0], 'pbc': species[1], 'extras': True})
                s.sent = species
            p = s.protocol
            # One round trip: POSDATA, STATUS and GETFORCE go together (Mlip's driver answers them in order), then
            # HAVEDATA and FORCEREADY come back. ASE's IPIProtocol.calculate waits for each answer (three round trips).
            cell = np.array(atoms.cell[:], dtype=float)
            p.sendposdata(cell, np.linalg.pinv(cell).T, np.asarray(atoms.positions, dtype=float))
            p.sendmsg('STATUS')
            p.sendmsg('GETFORCE')
            for expected in ('HAVEDATA', 'FORCEREADY'):
                msg = p.recvmsg()
                if msg != expected:
                    raise MlipServerError('mlip serve answered {} instead of {}'.format(msg, expected))
            energy = p.recv(1, np.float64)[0] * units.Hartree
            natoms = int(p.recv(1, np.int32)[0])
            forces = p.recv((natoms, 3), np.float64) * (units.Hartree / units.Bohr)
            virial = p.recv((3, 3), np.float64).T * units.Hartree
            nextra = int(p.recv(1, np.int32)[0])
            extra = p._recvall(nextra) if nextra > 0 else b''
        except (SocketClosed, ConnectionError, BrokenPipeError) as e:
            proc = s.proc
            if proc is not None:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
            text = s.output().strip()
            s.close()
            raise MlipServerError('mlip serve ended ({}):\n{}'.format(type(e).__name__, text)) from None
        extra = json.loads(extra.decode('utf-8')) if extra.strip(b'\0') else {}
        self.results['energy'] = self.results['free_energy'] = float(energy)
        self.results['forces'] = np.array(forces, dtype=float)
        if atoms.pbc.all() and atoms.cell.rank == 3:
            self.results['stress'] = -full_3x3_to_voigt_6_stress(virial) / atoms.get_volume()
        if 'energies' in extra:
            self.results['energies'] = np.array(extra['energies'], dtype=float)
        if 'energy_std' in extra:
            self.results['energy_std'] = float(extra['energy_std'])
        if 'uncertainty' in extra:
            self.results['uncertainty'] = float(extra['uncertainty'])
        for key in ('force_std', 'gamma'):
            if key in extra:
                self.results[key] = np.array(extra[key], dtype=float)
