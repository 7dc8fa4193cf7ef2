"""Mlip from Python.

``MlipCalculator`` is an ASE calculator backed by ``mlip serve`` on a private UNIX socket (the i-PI protocol with
Mlip's JSON extension for species and per-atom results); ``read_model_info``, ``train``, ``fit``, ``test`` and ``info``
run the ``mlip`` command and return its JSON. Depends only on ASE and numpy. See docs/python.md.
"""

from .commands import (MlipCommandError, find_command, fit, info, read_model_info, run, run_json, test, train)
from .calculator import MlipCalculator, MlipServerError

__version__ = '0.1.0'

__all__ = ['MlipCalculator', 'MlipServerError', 'MlipCommandError', 'find_command', 'run', 'run_json',
           'read_model_info', 'info', 'train', 'fit', 'test']
