"""The sequel's common/base_model.py: BaseModel, whose save_params and load_params keep
a model's `params` list in a pickle file (ClassName.pkl by default), float16 on disk.

save_params writes the sequel's format (a pickled list of float16 arrays, so that its
own code reads what this writes), whole or not at all. load_params reads a file with
chainrule's restricted unpickler (chainrule.book.weights): NumPy arrays and plain
lists only; a file that names anything else (os.system, say) is refused by name before
anything in it runs. The arrays must match the model's parameters in number and
shapes (the sequel's code assigns without checking); they are copied in as float32.
"""

import os
import pickle

import numpy as np

from chainrule.book.weights import WeightFileError, read_array_pickle
from chainrule.files import atomic_file

from .np import GPU  # noqa: F401
from .util import to_cpu, to_gpu  # noqa: F401

__all__ = ["BaseModel"]


class BaseModel:
    """A model of the sequel's protocol: params and grads lists, forward, backward."""

    def __init__(self):
        self.params, self.grads = None, None

    def forward(self, *args):
        raise NotImplementedError

    def backward(self, *args):
        raise NotImplementedError

    def _file(self, file_name):
        if file_name is None:
            return self.__class__.__name__ + ".pkl"
        return file_name.replace("/", os.sep)

    def save_params(self, file_name=None):
        file_name = self._file(file_name)
        params = [np.asarray(p).astype(np.float16) for p in self.params]
        with atomic_file(file_name) as f:
            pickle.dump(params, f)

    def load_params(self, file_name=None):
        file_name = self._file(file_name)
        if not os.path.exists(file_name):
            raise IOError("No file: " + file_name)
        arrays = read_array_pickle(file_name)
        if not isinstance(arrays, (list, tuple)) or not all(
                isinstance(a, np.ndarray) for a in arrays):
            raise WeightFileError(f"{file_name} holds a {type(arrays).__name__}, not a "
                                  f"list of arrays (what save_params writes)")
        if len(arrays) != len(self.params):
            raise WeightFileError(f"{file_name} holds {len(arrays)} arrays but "
                                  f"{type(self).__name__} has {len(self.params)} parameters")
        for i, (param, array) in enumerate(zip(self.params, arrays)):
            if array.shape != param.shape:
                raise WeightFileError(f"{file_name}: array {i} has shape {array.shape} but "
                                      f"{type(self).__name__}'s parameter {i} has "
                                      f"{param.shape}")
        for param, array in zip(self.params, arrays):
            param[...] = array.astype("f")
