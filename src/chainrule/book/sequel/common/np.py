"""The sequel's common/np.py: `from common.np import *` gives np (NumPy) and GPU (False).

The sequel's module imports CuPy as np when config.GPU is set; here np is always
NumPy (see common.config).
"""

import numpy as np  # noqa: F401

GPU = False
