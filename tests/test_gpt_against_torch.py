"""A whole GPT against PyTorch's autograd: correctness at scale.

Two pre-norm blocks (token and position embeddings, causal self-attention of 4 heads,
an MLP of 4C with the exact GELU, a last LayerNorm and the output layer tied to the
token embedding), built by chainrule from its text form in float64, and the same
network written in PyTorch the way nanoGPT writes it (one qkv Linear, heads as views,
an explicit softmax, lm_head sharing the embedding's weight), with chainrule's weights
copied in. The loss (mean cross-entropy over every position) and every parameter's
gradient must agree to a relative error of 1e-6, measured against each array's largest
entry (conftest.max_relative_error). In float64 the two agree to about 1e-14 (the
sums run in different orders); 1e-6 leaves room for any x86 CPU's BLAS and still fails
on any error in a derivative, which moves a gradient by far more (llm.c checks its
float32 GPT-2 against PyTorch at 2e-2).
"""

import math

import numpy as np
import pytest

from chainrule.layers import TimeAffine
from chainrule.models import Sequential
from chainrule.time_layers import TimeEmbedding
from chainrule.transformer import LayerNorm, MultiHeadAttention, PositionalEmbedding
from conftest import max_relative_error

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

V, C, T, HEADS, N = 17, 32, 16, 4, 3
TOLERANCE = 1e-6


# -- the network in PyTorch, written as nanoGPT writes it ---------------------------------
class SelfAttention(nn.Module):
    def __init__(self, width, heads, causal):
        super().__init__()
        self.heads, self.causal = heads, causal
        self.c_attn = nn.Linear(width, 3 * width)
        self.c_proj = nn.Linear(width, width)

    def forward(self, x):
        n, t, c = x.shape
        q, k, v = self.c_attn(x).split(c, dim=2)
        q, k, v = (a.view(n, t, self.heads, c // self.heads).transpose(1, 2)
                   for a in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        if self.causal:
            later = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
            att = att.masked_fill(later, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(n, t, c)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.c_fc = nn.Linear(width, 4 * width)
        self.c_proj = nn.Linear(4 * width, width)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x)))  # GELU exact, through erf


class TransformerBlock(nn.Module):
    def __init__(self, width, heads, causal):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = SelfAttention(width, heads, causal)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = MLP(width)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class TorchGPT(nn.Module):
    def __init__(self, vocab, context, width, heads, blocks, causal=True):
        super().__init__()
        self.wte = nn.Embedding(vocab, width)
        self.wpe = nn.Embedding(context, width)
        self.h = nn.ModuleList(TransformerBlock(width, heads, causal) for _ in range(blocks))
        self.ln_f = nn.LayerNorm(width)
        self.lm_head = nn.Linear(width, vocab, bias=False)
        self.lm_head.weight = self.wte.weight  # tied: one matrix, read at both ends

    def forward(self, idx, targets):
        t = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(t))
        for block in self.h:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def twin(net, causal=True):
    """TorchGPT in float64 with net's weights, and {chainrule name: (torch parameter,
    transposed?)} to compare gradients by. chainrule's affine W is (in, out), torch's
    Linear weight (out, in)."""
    blocks = sum(isinstance(layer, MultiHeadAttention) for layer in net.layers.values())
    model = TorchGPT(V, T, C, HEADS, blocks, causal).double()
    by_array = {id(array): name for name, array in net.params.items()}
    # chainrule's layers with parameters, in order, and the torch modules they become
    norms = [model.h[i // 2].ln_1 if i % 2 == 0 else model.h[i // 2].ln_2
             for i in range(2 * blocks)] + [model.ln_f]
    affines = [m for b in model.h for m in (b.mlp.c_fc, b.mlp.c_proj)]
    attentions = [b.attn for b in model.h]
    pairs = {}
    for layer in net.layers.values():
        if isinstance(layer, TimeEmbedding):
            pairs[by_array[id(layer.W)]] = (model.wte.weight, False)
        elif isinstance(layer, PositionalEmbedding):
            pairs[by_array[id(layer.W)]] = (model.wpe.weight, False)
        elif isinstance(layer, LayerNorm):
            m = norms.pop(0)
            pairs[by_array[id(layer.gamma)]] = (m.weight, False)
            pairs[by_array[id(layer.beta)]] = (m.bias, False)
        elif isinstance(layer, MultiHeadAttention):
            m = attentions.pop(0)
            pairs[by_array[id(layer.W_qkv)]] = (m.c_attn.weight, True)
            pairs[by_array[id(layer.b_qkv)]] = (m.c_attn.bias, False)
            pairs[by_array[id(layer.W_o)]] = (m.c_proj.weight, True)
            pairs[by_array[id(layer.b_o)]] = (m.c_proj.bias, False)
        elif isinstance(layer, TimeAffine):
            m = affines.pop(0)
            pairs[by_array[id(layer.W)]] = (m.weight, True)
            pairs[by_array[id(layer.b)]] = (m.bias, False)
    assert not norms and not affines and not attentions
    assert sorted(pairs) == sorted(net.params), "every chainrule parameter has a twin"
    with torch.no_grad():
        for name, (param, transposed) in pairs.items():
            value = torch.from_numpy(net.params[name].copy())
            param.copy_(value.T if transposed else value)
    return model, pairs


@pytest.mark.parametrize("causal", [True, False], ids=["causal", "not-causal"])
def test_two_block_gpt_loss_and_every_gradient_match_torch(causal):
    blocks = "block(4)" if causal else "block(4,causal=false)"
    net = Sequential(f"embed({C},vocab={V},init=0.02) posembed({T}) {blocks} {blocks} "
                     f"layernorm unembed", input_shape=T, dtype="float64", rng=0)
    rng = np.random.default_rng(1)
    # Larger weights than the initial 0.02 ones, so that attention is far from uniform,
    # GELU sees both signs and every path carries a gradient worth comparing.
    for name, array in net.params.items():
        array += 0.3 * rng.standard_normal(array.shape)
    x = rng.integers(0, V, (N, T))
    t = rng.integers(0, V, (N, T))
    grads = net.gradient(x, t)
    loss = net.loss(x, t)

    model, pairs = twin(net, causal)
    torch_loss = model(torch.from_numpy(x), torch.from_numpy(t))
    torch_loss.backward()

    assert abs(loss - torch_loss.item()) <= TOLERANCE * abs(torch_loss.item())
    assert len(grads) == len(net.params) == 28
    errors = {}
    for name, (param, transposed) in pairs.items():
        theirs = param.grad.T if transposed else param.grad
        errors[name] = max_relative_error(grads[name], theirs.numpy())
    worst = max(errors, key=errors.get)
    assert errors[worst] <= TOLERANCE, (worst, errors[worst])


def test_the_comparison_sees_a_wrong_gradient():
    """The tied embedding's gradient without its output-layer half (the mistake of
    forgetting a tie) is far outside the tolerance: the test above can fail."""
    net = Sequential(f"embed({C},vocab={V},init=0.02) posembed({T}) block(4) block(4) "
                     f"layernorm unembed", input_shape=T, dtype="float64", rng=0)
    rng = np.random.default_rng(1)
    x, t = rng.integers(0, V, (N, T)), rng.integers(0, V, (N, T))
    net.gradient(x, t)
    embed_only = net.layers["Embed1"].dW
    model, pairs = twin(net)
    model(torch.from_numpy(x), torch.from_numpy(t)).backward()
    assert max_relative_error(embed_only, pairs["W1"][0].grad.numpy()) > 1e-2
