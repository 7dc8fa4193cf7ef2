"""The ``mlip`` command from Python: where it is, and its ``--json`` answers as dictionaries."""

import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

__all__ = ['MlipCommandError', 'find_command', 'run', 'run_json', 'read_model_info', 'info', 'train', 'fit', 'test']


class MlipCommandError(RuntimeError):
    """``mlip`` ended with a non-zero exit code; the message is its error line."""

    def __init__(self, args, returncode, stdout, stderr):
        self.args_ = list(args)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        lines = [line for line in (stderr or '').splitlines() if line.strip()]
        super().__init__('{} (exit {}): {}'.format(' '.join(shlex.quote(a) for a in args), returncode,
                                                   lines[-1] if lines else '(no message)'))


def find_command(command=None):
    """The ``mlip`` command as a list of arguments.

    In this order: ``command`` (a string, split like a shell would, or a list), the environment variable
    ``MLIP_COMMAND`` (for example ``"dotnet /path/Mlip.Cli.dll"``), ``mlip`` on ``PATH`` (the .NET tool:
    ``dotnet tool install --global Mlip.Cli``), and the ``mlip`` script of the repository this module sits in
    (``./mlip``, which builds the command on first use).
    """
    if command:
        return shlex.split(command) if isinstance(command, str) else [os.fspath(c) for c in command]
    env = os.environ.get('MLIP_COMMAND')
    if env:
        return shlex.split(env)
    on_path = shutil.which('mlip')
    if on_path:
        return [on_path]
    repo = Path(__file__).resolve().parents[2] / 'mlip'
    if repo.is_file() and os.access(repo, os.X_OK):
        return [str(repo)]
    raise FileNotFoundError('mlip: the command was not found: install it (dotnet tool install --global Mlip.Cli), '
                            'put it on PATH, or set MLIP_COMMAND')


def run(*args, command=None, cwd=None):
    """Runs ``mlip ARGS``; returns its standard output (text). Raises :class:`MlipCommandError` on a non-zero exit."""
    argv = find_command(command) + [os.fspath(a) for a in args]
    p = subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    if p.returncode != 0:
        raise MlipCommandError(argv, p.returncode, p.stdout, p.stderr)
    return p.stdout


def run_json(*args, command=None, cwd=None):
    """Runs ``mlip ARGS --json`` and returns the JSON it prints."""
    return json.loads(run(*args, '--json', command=command, cwd=cwd))


def read_model_info(path, command=None):
    """What a model file holds (any format Mlip reads: model.json, .ace/.yace, LAMMPS snap, ...):
    ``name``, ``kind``, ``elements``, ``descriptor``, ``cutoff_a``, ``features``."""
    return run_json('info', '--model', path, command=command)


def info(*files, command=None):
    """``mlip info FILES --json``: structures, atoms, elements, groups and label ranges of data files."""
    return run_json(*(['info'] + list(files)), command=command)


def train(config, command=None, cwd=None):
    """``mlip train CONFIG``: fits the model the config describes. Returns ``{'model': PATH, 'metrics': {...}}``,
    the metrics being the ``metrics.json`` written beside the model. Relative paths are those of ``cwd``."""
    out = run('train', config, command=command, cwd=cwd)
    path = Path(cwd or '.') / _wrote(out, ['train', config])
    metrics = path.parent / 'metrics.json'
    return {'model': str(path), 'metrics': json.loads(metrics.read_text()) if metrics.is_file() else None}


def _wrote(out, args):
    """The model path of a 'wrote MODEL, ...' line."""
    for line in out.splitlines():
        if line.startswith('wrote '):
            return line[len('wrote '):].split(',')[0].strip()
    raise MlipCommandError(args, 0, out, 'mlip did not say where it wrote the model')


def fit(*train, test=None, budget=None, output=None, seed=None, config=None, command=None, cwd=None):
    """``mlip fit TRAIN... [--test ...] [--budget MIN] [-o DIR]``: the search over model families, bases and
    hyperparameters on validation error. Returns ``{'model': PATH, 'report': {...}}``, the report being the
    ``report.json`` written beside the model. Relative paths are those of ``cwd``."""
    args = ['fit'] + [os.fspath(t) for t in train]
    if test:
        args += ['--test'] + [os.fspath(t) for t in ([test] if isinstance(test, (str, os.PathLike)) else test)]
    if budget is not None:
        args += ['--budget', str(budget)]
    if output is not None:
        args += ['-o', os.fspath(output)]
    if seed is not None:
        args += ['--seed', str(seed)]
    if config is not None:
        args += ['--config', os.fspath(config)]
    out = run(*args, command=command, cwd=cwd)
    path = Path(cwd or '.') / _wrote(out, args)
    report = path.parent / 'report.json'
    return {'model': str(path), 'report': json.loads(report.read_text()) if report.is_file() else None}


def test(model, *data, command=None, threads=None):
    """``mlip test --model MODEL DATA --json``: energy, force and stress errors, overall and per group."""
    args = ['test', '--model', model] + list(data)
    if threads is not None:
        args += ['--threads', str(threads)]
    return run_json(*args, command=command)
