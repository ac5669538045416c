"""The sequel's common/config.py: the GPU switch, which chainrule does not follow.

The sequel's scripts say `config.GPU = True` to compute with CuPy. chainrule's layers
are NumPy's, so setting it prints one line on stderr saying so (and whether CuPy is
installed at all) and the run goes on with NumPy, on the CPU: `config.GPU` stays False,
so the scripts' own `if config.GPU:` branches (to_gpu, the GPU's negative sampler)
are not taken and the answer is the CPU run's.
"""

import importlib.util
import sys
import types


def _gpu_notice():
    if importlib.util.find_spec("cupy") is None:
        return ("config.GPU = True, but CuPy is not installed: the run goes on with "
                "NumPy, on the CPU")
    return ("config.GPU = True: chainrule's layers compute with NumPy only, so the run "
            "goes on on the CPU")


class _Config(types.ModuleType):
    """The module, with GPU a property: reading it gives False, setting it to a true
    value prints the notice."""

    @property
    def GPU(self):
        return False

    @GPU.setter
    def GPU(self, value):
        if value:
            print(_gpu_notice(), file=sys.stderr)


sys.modules[__name__].__class__ = _Config
