"""The sequel's dataset/spiral.py: three interleaved spirals in the plane (ch 1.4.1)."""

import numpy as np

N = 100  # points per class
DIM = 2
CLS_NUM = 3


def load_data(seed=1984):
    """(x, t): x (300, 2) float64 points, t (300, 3) one-hot int32 classes.

    Point i of class j: radius r = i / N, angle theta = 4j + 4r + 0.2 e with e drawn
    from NumPy's global generator after np.random.seed(seed), class after class and
    point after point (the sequel's draws, so the same points), at (r sin theta,
    r cos theta).
    """
    np.random.seed(seed)
    x = np.zeros((N * CLS_NUM, DIM))
    t = np.zeros((N * CLS_NUM, CLS_NUM), dtype=np.int32)
    rate = np.arange(N) / N
    for j in range(CLS_NUM):
        theta = j * 4.0 + 4.0 * rate + np.random.randn(N) * 0.2
        x[N * j:N * (j + 1)] = np.stack((rate * np.sin(theta), rate * np.cos(theta)), axis=1)
        t[N * j:N * (j + 1), j] = 1
    return x, t
