"""The book's dataset/mnist.py: load_mnist over chainrule's verified loader.

Nothing is downloaded and nothing is pickled. Full MNIST (60,000 + 10,000) is used
where it is on this machine (see chainrule.datasets for where it is looked for);
otherwise the 10,000 real MNIST digits bundled with chainrule, split 8,000 for
training and 2,000 for testing (mnist-10k), after a one-line notice on stderr.
"""

import sys

import numpy as np

from chainrule.datasets import load_dataset, resolve_dataset

train_num = 60000
test_num = 10000
img_dim = (1, 28, 28)
img_size = 784


def load_mnist(normalize=True, flatten=True, one_hot_label=False):
    """((x_train, t_train), (x_test, t_test)), with the book's arguments and arrays.

    normalize: pixels as float32 in [0, 1] (else uint8 0..255); flatten: images as
    rows of 784 (else (N, 1, 28, 28)); one_hot_label: labels as one-hot rows (N, 10)
    (else integer classes (N,)). The arrays are the caller's to change, as the book's.
    """
    choice = resolve_dataset("mnist", download=False)
    if choice.message:
        print(f"dataset.mnist: {choice.message}", file=sys.stderr)
    (x_train, t_train), (x_test, t_test) = load_dataset(
        choice.name, normalize, flatten, one_hot_label, download=False)
    # The loader may hand out read-only views of its cache; the book's are writable.
    return ((np.array(x_train), np.array(t_train)), (np.array(x_test), np.array(t_test)))
