"""The sequel's `dataset` package, served by chainrule (see chainrule.book.sequel).

Its data files (addition.txt, date.txt, the Penn Treebank's ptb.*.txt) are read from
the checkout's own dataset/ folder: `chainrule book run` sets it for the run
(`folder`); used directly, it is ../dataset from the working folder, where a chapter
script of the sequel finds it.
"""

import os

#: the checkout's dataset/ folder; None: ../dataset from the working folder
folder = None


def data_folder():
    """The folder the data files are read from (see `folder`)."""
    return folder if folder is not None else os.path.abspath(os.path.join(os.pardir, "dataset"))
