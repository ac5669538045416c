"""Where MultiHeadAttention's time goes, step by step, at the size of a small GPT.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_attention.py [--batch 12] [--context 64]
        [--channels 128] [--heads 4] [--dtype float32] [--repeat 200]

Times each step of the layer's forward and backward (the same NumPy calls as
chainrule.transformer.MultiHeadAttention, one by one), the whole layer, the alternatives
that the layer's tricks were chosen over, the other transformer layers at the sizes they
see in a GPT block, and, where PyTorch is installed, torch's eager attention on one
thread for scale. Prints a table; the best of several runs, in microseconds.
"""

import argparse
import math
import timeit

import numpy as np
from threadpoolctl import threadpool_limits

from benchlib import cpu_model
from chainrule.transformer import GELU, LayerNorm, MultiHeadAttention


def best_us(fn, repeat):
    number = max(1, repeat // 5)
    return min(timeit.repeat(fn, number=number, repeat=9)) / number * 1e6


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=12)
    ap.add_argument("--context", type=int, default=64)
    ap.add_argument("--channels", type=int, default=128)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--repeat", type=int, default=200)
    args = ap.parse_args()
    N, T, C, H = args.batch, args.context, args.channels, args.heads
    d = C // H
    dtype = np.dtype(args.dtype)
    rng = np.random.default_rng(0)
    layer = MultiHeadAttention.build((T, C), dtype, rng, H)
    x = rng.standard_normal((N, T, C)).astype(dtype)
    dout = rng.standard_normal((N, T, C)).astype(dtype)
    R = args.repeat
    rows = []

    def row(group, what, us):
        rows.append((group, what, us))

    # -- forward, step by step ------------------------------------------------------------
    x2 = x.reshape(N * T, C)
    qkv2 = x2 @ layer.W_qkv + layer.b_qkv
    qkv = qkv2.reshape(N, T, 3, H, d).transpose(2, 0, 3, 1, 4)
    q, k, v = qkv
    scale = dtype.type(1 / math.sqrt(d))
    q_s = q * scale
    S = q_s @ k.swapaxes(-1, -2)
    mask = np.triu(np.full((T, T), -np.inf, dtype=dtype), k=1)

    def softmax_inplace(S):
        S += mask
        S -= S.max(axis=-1, keepdims=True)
        np.exp(S, out=S)
        S /= S.sum(axis=-1, keepdims=True)
        return S

    P = softmax_inplace(S.copy())
    y = (P @ v).transpose(0, 2, 1, 3).reshape(N * T, C)
    row("forward", "projection x W_qkv + b (N T, C) x (C, 3C)",
        best_us(lambda: np.add(x2 @ layer.W_qkv, layer.b_qkv), R))
    row("forward", "scores (q / sqrt d) k^T, batched over (N, H)",
        best_us(lambda: (q * scale) @ k.swapaxes(-1, -2), R))
    S_work = S.copy()
    row("forward", "mask (+ cached -inf triangle)",
        best_us(lambda: np.add(S_work, mask, out=S_work), R))
    del S_work
    S_masked = S + mask
    work = S_masked.copy()

    def softmax_only():
        np.copyto(work, S_masked)  # fresh scores each run (the copy timed alone, taken off)
        np.subtract(work, work.max(axis=-1, keepdims=True), out=work)
        np.exp(work, out=work)
        np.divide(work, work.sum(axis=-1, keepdims=True), out=work)
    copy_us = best_us(lambda: np.copyto(work, S_masked), R)
    row("forward", "softmax in place (max, exp, sum, divide)", best_us(softmax_only, R) - copy_us)
    row("forward", "weighted sum P v and heads side by side",
        best_us(lambda: (P @ v).transpose(0, 2, 1, 3).reshape(N * T, C), R))
    row("forward", "output projection y W_o + b_o", best_us(lambda: np.add(y @ layer.W_o, layer.b_o), R))
    row("forward", "whole layer forward", best_us(lambda: layer.forward(x), R))

    # -- backward, step by step -----------------------------------------------------------
    layer.forward(x)
    dout2 = dout.reshape(N * T, C)
    row("backward", "output projection: dW_o, db_o, dy",
        best_us(lambda: (y.T @ dout2, dout2.sum(axis=0), dout2 @ layer.W_o.T), R))
    dy = (dout2 @ layer.W_o.T).reshape(N, T, H, d).transpose(0, 2, 1, 3)
    row("backward", "dP = dy v^T and dv = P^T dy",
        best_us(lambda: (dy @ v.swapaxes(-1, -2), P.swapaxes(-1, -2) @ dy), R))
    dP = dy @ v.swapaxes(-1, -2)
    dS = dP.copy()

    def softmax_backward():
        np.copyto(dS, dP)
        np.multiply(dS, P, out=dS)
        np.subtract(dS, P * dS.sum(axis=-1, keepdims=True), out=dS)
    row("backward", "softmax: dS = P (dP - sum(dP P))", best_us(softmax_backward, R) - copy_us)
    row("backward", "dq = dS k / sqrt d, dk = dS^T q / sqrt d",
        best_us(lambda: ((dS @ k) * scale, dS.swapaxes(-1, -2) @ q_s), R))
    dqkv = np.ascontiguousarray(np.concatenate([q, k, v], axis=-1).transpose(0, 2, 1, 3)
                                ).reshape(N * T, 3 * C)
    row("backward", "projection: dW_qkv, db_qkv, dx",
        best_us(lambda: (x2.T @ dqkv, dqkv.sum(axis=0), dqkv @ layer.W_qkv.T), R))
    row("backward", "whole layer backward", best_us(lambda: layer.backward(dout), R))

    # -- the alternatives the layer's tricks were chosen over -----------------------------
    tri = np.triu(np.ones((T, T), dtype=bool), k=1)
    row("alternative", "mask by a new boolean triangle and np.where each call",
        best_us(lambda: np.where(np.triu(np.ones((T, T), dtype=bool), k=1), -np.inf, S), R))
    row("alternative", "mask by boolean assignment S[..., tri] = -inf",
        best_us(lambda: work.__setitem__((Ellipsis, tri), -np.inf), R))
    row("alternative", "scale the scores (T, T) instead of q (T, d)",
        best_us(lambda: (q @ k.swapaxes(-1, -2)) * scale, R))

    def softmax_new_arrays():
        e = np.exp(S - S.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    row("alternative", "softmax into new arrays", best_us(softmax_new_arrays, R))
    qc, kc = np.ascontiguousarray(q), np.ascontiguousarray(k)
    row("alternative", "scores after copying q and k contiguous",
        best_us(lambda: (np.ascontiguousarray(q) * scale) @ np.ascontiguousarray(k).swapaxes(-1, -2), R))
    row("alternative", "scores, heads in a Python loop",
        best_us(lambda: [(qc[:, h] * scale) @ kc[:, h].swapaxes(-1, -2) for h in range(H)], R))

    # -- the other layers of a block --------------------------------------------------------
    ln = LayerNorm.build((T, C), dtype, rng)
    row("block", f"LayerNorm forward + backward ({N}, {T}, {C})",
        best_us(lambda: (ln.forward(x), ln.backward(dout)), R))
    h = (0.5 * rng.standard_normal((N, T, 4 * C))).astype(dtype)
    dh = rng.standard_normal(h.shape).astype(dtype)
    for approximate in ("none", "tanh"):
        g = GELU(approximate)
        row("block", f"GELU({approximate}) forward + backward ({N}, {T}, {4 * C})",
            best_us(lambda: (g.forward(h), g.backward(dh)), max(10, R // 10)))

    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(1)
        F = torch.nn.functional
        tdtype = getattr(torch, args.dtype)
        tx = torch.tensor(x, requires_grad=True)
        Wq = torch.tensor(layer.W_qkv, requires_grad=True)
        bq = torch.tensor(layer.b_qkv, requires_grad=True)
        Wo = torch.tensor(layer.W_o, requires_grad=True)
        bo = torch.tensor(layer.b_o, requires_grad=True)
        tdout = torch.tensor(dout, dtype=tdtype)

        def torch_forward():
            a, b, c = (tx @ Wq + bq).split(C, dim=2)
            a, b, c = (z.view(N, T, H, d).transpose(1, 2) for z in (a, b, c))
            att = (a @ b.transpose(-2, -1)) * scale
            att = att.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf"))
            att = F.softmax(att, dim=-1)
            return (att @ c).transpose(1, 2).reshape(N, T, C) @ Wo + bo

        def torch_both():
            for p in (tx, Wq, bq, Wo, bo):
                p.grad = None
            torch_forward().backward(tdout)
        with torch.no_grad():
            row("torch", "torch eager attention forward (explicit softmax, no grad)",
                best_us(torch_forward, R))
        row("torch", "torch eager attention forward + backward", best_us(torch_both, R))
        row("torch", "chainrule attention forward + backward",
            best_us(lambda: (layer.forward(x), layer.backward(dout)), R))

    print(f"MultiHeadAttention, N={N} T={T} C={C} heads={H} {dtype.name}, one thread, "
          f"{cpu_model()}; best of 9 runs, microseconds")
    width = max(len(what) for _, what, _ in rows)
    group = None
    for g, what, us in rows:
        if g != group:
            print(f"\n[{g}]")
            group = g
        print(f"  {what:<{width}}  {us:9.1f}")


if __name__ == "__main__":
    with threadpool_limits(limits=1, user_api="blas"):
        main()
