"""Holding out part of a data set: a stratified, seeded split.

Stratified: each class gives the same fraction of its samples, so a small validation or
test part has the classes in the proportions of the whole (a plain random cut of a
small or unbalanced set can leave a class out altogether).
"""

import numpy as np

__all__ = ["stratified_split", "split_generator"]


def split_generator(seed, purpose):
    """The generator of a split, from the run's seed and what the split is for
    (1: validation, 2: test), kept apart from the streams that order the batches."""
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(purpose,)))


def stratified_split(labels, fraction, rng, kept_words="to train on",
                     held_words="held out"):
    """(kept, held_out): sorted index arrays; round(fraction * n_c) samples of each class
    c are held out, chosen at random by `rng`.

    Raises ValueError for a fraction outside (0, 1) or a split that leaves either part
    empty, naming the part as `kept_words` or `held_words` say (a data set's own
    split is not a training run's: "in the training part", "in the test part").
    """
    labels = np.asarray(labels)
    fraction = float(fraction)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"the fraction to hold out must be between 0 and 1, got {fraction}")
    if labels.ndim != 1:
        raise ValueError(f"a split needs one class index per sample, got shape {labels.shape}")
    held = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        count = int(round(fraction * len(members)))
        held.append(rng.permutation(members)[:count])
    held = np.sort(np.concatenate(held)) if held else np.zeros(0, dtype=np.int64)
    kept = np.setdiff1d(np.arange(len(labels)), held, assume_unique=True)
    if len(held) == 0:
        raise ValueError(f"holding out {fraction:g} of {len(labels)} samples leaves none "
                         f"{held_words}; use a larger fraction or more data")
    if len(kept) == 0:
        raise ValueError(f"holding out {fraction:g} of {len(labels)} samples leaves none "
                         f"{kept_words}; use a smaller fraction or more data")
    return kept, held
