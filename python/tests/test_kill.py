"""SIGKILL of the Python process leaves no `mlip serve` behind: a child Python starts a MlipCalculator, computes once,
prints the server's pid and waits; this script kills it (SIGKILL: no atexit, no finaliser runs) and waits until the
server has gone (it reads EOF on its socket and watches its parent)."""

import os
import signal
import subprocess
import sys
import time

from common import model_and_dir, report

model, work = model_and_dir()
child = r'''
import sys
sys.path.insert(0, {path!r})
import mlip
from ase.build import bulk
calc = mlip.MlipCalculator({model!r})
atoms = bulk('Si', 'diamond', 5.431, cubic=True)
atoms.calc = calc
atoms.get_potential_energy()
print(calc.server_pid, flush=True)
sys.stdin.read()
'''.format(path=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'), model=model)


def alive(pid):
    try:
        with open('/proc/{}/stat'.format(pid)) as f:
            return f.read().split(')')[-1].split()[0] != 'Z'  # a zombie has ended
    except FileNotFoundError:
        return False


p = subprocess.Popen([sys.executable, '-c', child], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
server = int(p.stdout.readline())
assert alive(server), 'the server is not running'
os.kill(p.pid, signal.SIGKILL)
p.wait()
t0 = time.monotonic()
# the server ends by itself; a generous bound (a loaded machine), not a timing window: it normally goes at once
while alive(server) and time.monotonic() - t0 < 120:
    time.sleep(0.05)
gone = not alive(server)
report(server_pid=server, server_gone=gone, seconds_to_exit=time.monotonic() - t0)
if not gone:
    os.kill(server, signal.SIGKILL)
    raise SystemExit('FAIL: mlip serve {} still running after its Python process was killed'.format(server))
