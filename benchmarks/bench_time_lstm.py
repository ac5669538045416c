"""TimeLSTM forward + backward against straightforward versions, at the character
language model's shapes (N=32 streams, T=64 steps, D=64 embedding, H=256, float32).

    python benchmarks/bench_time_lstm.py            # one thread
    python benchmarks/bench_time_lstm.py --threads 2

Three implementations of the same arithmetic, timed in alternating windows (median):

- "sequel": the sequel's TimeLSTM, T per-step LSTM objects, each computing x.Wx + h.Wh
  + b, its gates with np.hstack in backward, and dWx, dWh, db added up step by step;
- "batched": x.Wx for all steps in one product before the loop, and dWx, dWh, db as
  one product each after it, but every step written as plain expressions (temporaries);
- "chainrule": chainrule.time_layers.TimeLSTM (preallocated arrays, in place, one tanh
  call for the four gates, the backward factors for all steps at once).
"""

import argparse
import os
import sys
import time

THREADS = "--threads" in sys.argv and sys.argv[sys.argv.index("--threads") + 1] or "1"
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = THREADS

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import cpu_model  # noqa: E402
from chainrule.time_layers import LSTM, TimeLSTM  # noqa: E402


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


class SequelTimeLSTM:
    """The sequel's way: one LSTM cell object per step (chainrule's LSTM is that cell)."""

    def __init__(self, Wx, Wh, b):
        self.Wx, self.Wh, self.b = Wx, Wh, b

    def forward(self, xs):
        N, T, _ = xs.shape
        H = self.Wh.shape[0]
        self.layers = []
        hs = np.empty((N, T, H), dtype=xs.dtype)
        h = np.zeros((N, H), dtype=xs.dtype)
        c = np.zeros((N, H), dtype=xs.dtype)
        for t in range(T):
            layer = LSTM(self.Wx, self.Wh, self.b)
            h, c = layer.forward(xs[:, t], h, c)
            hs[:, t] = h
            self.layers.append(layer)
        return hs

    def backward(self, dhs):
        N, T, _ = dhs.shape
        D = self.Wx.shape[0]
        dxs = np.empty((N, T, D), dtype=dhs.dtype)
        dh = dc = 0
        grads = [np.zeros_like(self.Wx), np.zeros_like(self.Wh), np.zeros_like(self.b)]
        for t in reversed(range(T)):
            layer = self.layers[t]
            dx, dh, dc = layer.backward(dhs[:, t] + dh, dc)
            dxs[:, t] = dx
            for g, d in zip(grads, (layer.dWx, layer.dWh, layer.db)):
                g += d
        self.dWx, self.dWh, self.db = grads
        return dxs


class BatchedTimeLSTM:
    """Input products and weight gradients batched over all steps; each step in plain
    expressions, as one would first write it."""

    def __init__(self, Wx, Wh, b):
        self.Wx, self.Wh, self.b = Wx, Wh, b

    def forward(self, xs):
        N, T, D = xs.shape
        H = self.Wh.shape[0]
        A = (xs.reshape(N * T, D) @ self.Wx + self.b).reshape(N, T, 4 * H)
        h = np.zeros((N, H), dtype=xs.dtype)
        c = np.zeros((N, H), dtype=xs.dtype)
        self.steps = []
        hs = np.empty((N, T, H), dtype=xs.dtype)
        for t in range(T):
            a = A[:, t] + h @ self.Wh
            f, g = sigmoid(a[:, :H]), np.tanh(a[:, H:2 * H])
            i, o = sigmoid(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
            c_prev, h_prev = c, h
            c = f * c_prev + g * i
            tc = np.tanh(c)
            h = o * tc
            hs[:, t] = h
            self.steps.append((h_prev, c_prev, f, g, i, o, tc))
        self.xs = xs
        return hs

    def backward(self, dhs):
        N, T, H = dhs.shape
        D = self.Wx.shape[0]
        dA = np.empty((N, T, 4 * H), dtype=dhs.dtype)
        dh = np.zeros((N, H), dtype=dhs.dtype)
        dc = np.zeros((N, H), dtype=dhs.dtype)
        for t in reversed(range(T)):
            h_prev, c_prev, f, g, i, o, tc = self.steps[t]
            dh = dh + dhs[:, t]
            dc = dc + dh * o * (1 - tc ** 2)
            d = np.hstack((dc * c_prev * f * (1 - f), dc * i * (1 - g ** 2),
                           dc * g * i * (1 - i), dh * tc * o * (1 - o)))
            dA[:, t] = d
            dc = dc * f
            dh = d @ self.Wh.T
        hs_prev = np.stack([s[0] for s in self.steps], axis=1).reshape(N * T, H)
        dA2 = dA.reshape(N * T, 4 * H)
        self.dWx = self.xs.reshape(N * T, D).T @ dA2
        self.dWh = hs_prev.T @ dA2
        self.db = dA2.sum(axis=0)
        return (dA2 @ self.Wx.T).reshape(N, T, D)


def step(layer, xs, dhs):
    layer.forward(xs)
    layer.backward(dhs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", default="1")
    parser.add_argument("--windows", type=int, default=15)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    N, T, D, H = 32, 64, 64, 256
    rng = np.random.default_rng(0)
    Wx = (rng.standard_normal((D, 4 * H)) / np.sqrt(D)).astype(np.float32)
    Wh = (rng.standard_normal((H, 4 * H)) / np.sqrt(H)).astype(np.float32)
    b = np.zeros(4 * H, np.float32)
    xs = rng.standard_normal((N, T, D)).astype(np.float32)
    dhs = rng.standard_normal((N, T, H)).astype(np.float32)
    layers = {"sequel": SequelTimeLSTM(Wx, Wh, b), "batched": BatchedTimeLSTM(Wx, Wh, b),
              "chainrule": TimeLSTM(Wx, Wh, b)}
    # the same numbers first
    ref = layers["chainrule"]
    ref_hs = ref.forward(xs)
    ref_dxs = ref.backward(dhs)
    for name, layer in layers.items():
        assert np.allclose(layer.forward(xs), ref_hs, atol=1e-4), name
        assert np.allclose(layer.backward(dhs), ref_dxs, atol=1e-3), name
        assert np.allclose(layer.dWh, ref.dWh, rtol=1e-3, atol=1e-2), name
    times = {name: [] for name in layers}
    for _ in range(args.windows):
        for name, layer in layers.items():
            start = time.perf_counter()
            for _ in range(args.steps):
                step(layer, xs, dhs)
            times[name].append((time.perf_counter() - start) / args.steps * 1e3)
    print(f"TimeLSTM forward + backward, N={N} T={T} D={D} H={H}, float32, "
          f"{args.threads} thread(s), NumPy {np.__version__}, {cpu_model()}")
    base = float(np.median(times["chainrule"]))
    for name, ts in times.items():
        med = float(np.median(ts))
        print(f"  {name:10s} {med:7.1f} ms   {med / base:4.2f}x chainrule's time")


if __name__ == "__main__":
    main()
