"""One backward pass on one drawing, as the drawing page shows it.

`backward_view(network, digit, label)` calls the library's
``network.backprop(x, t, train_flg=False)`` (inference mode: dropout off, batch norm on
its running statistics; nothing in the network changes) and turns what it returns
into JSON-ready pieces:

  input_grad   dL/dx over the 28x28 input, 6 significant digits: which pixels would
               change the answer, and which way (dL/dx > 0: more ink there raises the
               loss, i.e. makes the chosen digit less likely);
  layers       per layer: its output shape, the norm of dL/d(its output), and the norm
               of each of its parameters and their gradients;
  graph        the layer graph (input, each layer, the loss) with the tensor shape and,
               after backward, the gradient norm on every edge;
  first_layer  the first layer with weights: for an Affine, each hidden unit's weights
               and their gradient as 28x28 images; for a Convolution, each filter and
               its gradient, and each feature map and dL/d(feature map).

Images are sent as signed bytes -127..127 in base64, with a scale per image
(value = q * scale / 127), which is what a picture needs and keeps the answer small;
every other number is a float rounded to 6 significant digits.
"""

import base64

import numpy as np

from ..layers import Affine, Convolution

__all__ = ["backward_view", "graph_view", "first_layer_view", "significant",
           "quantize", "MAX_UNIT_IMAGES"]

#: at most this many hidden units (or filters, or feature maps) are drawn; with more,
#: those whose weights get the largest gradient for this drawing are chosen
MAX_UNIT_IMAGES = 64


def significant(values, digits=6):
    """Floats rounded to `digits` significant digits, as a flat list (JSON-ready)."""
    return [float(f"{v:.{digits}g}") for v in np.asarray(values, dtype=np.float64).ravel()]


def _norm(array):
    return float(f"{float(np.linalg.norm(np.asarray(array, dtype=np.float64).ravel())):.6g}")


def quantize(images):
    """(K, ...) arrays as (K base64 strings, K scales): one 8-bit picture per image.

    Each image is scaled by its largest magnitude (its scale; 0 for an all-zero image)
    to signed bytes -127..127, sent as base64, so value = q * scale / 127 to within
    scale / 254. (Measured on a 784-500-10 network, 64 units shown: as lists of JSON
    numbers an answer was 300 kB and took 28 ms to encode; as base64, 146 kB and 2.7 ms.)
    """
    images = np.asarray(images, dtype=np.float64)
    flat = images.reshape(images.shape[0], -1)
    scales = np.abs(flat).max(axis=1) if flat.size else np.zeros(len(flat))
    safe = np.where(scales > 0, scales, 1.0)
    q = np.rint(flat * (127.0 / safe[:, None])).astype(np.int8)
    return ([base64.b64encode(row.tobytes()).decode("ascii") for row in q],
            [float(f"{s:.6g}") for s in scales])


def _shape(array):
    return [int(d) for d in np.shape(array)[1:]]


def graph_view(network, input_shape, shapes=None, input_grad=None, output_grads=None):
    """Nodes and edges of the layer graph; edges carry shapes and, if given, grad norms.

    shapes: [(layer name, output shape of one sample)] in forward order (from
    layer_shapes() when the network has it).
    """
    layers = getattr(network, "layers", {}) or {}
    if shapes is None:
        shapes = _layer_shapes(network, input_shape)
    nodes = [{"id": "input", "label": "input", "type": "Input"}]
    nodes += [{"id": name, "label": name, "type": type(layers[name]).__name__}
              for name, _ in shapes]
    loss_layer = getattr(network, "lastLayer", None)
    nodes.append({"id": "loss", "label": "loss",
                  "type": type(loss_layer).__name__ if loss_layer is not None else "Loss"})
    edges = []
    previous, previous_shape = "input", list(input_shape)
    for name, shape in shapes:
        edge = {"source": previous, "target": name, "shape": [int(d) for d in previous_shape]}
        if previous == "input" and input_grad is not None:
            edge["grad_norm"] = _norm(input_grad)
        elif output_grads is not None and previous in output_grads:
            edge["grad_norm"] = _norm(output_grads[previous])
        edges.append(edge)
        previous, previous_shape = name, list(shape)
    edge = {"source": previous, "target": "loss", "shape": [int(d) for d in previous_shape]}
    if output_grads is not None and previous in output_grads:
        edge["grad_norm"] = _norm(output_grads[previous])
    edges.append(edge)
    return {"nodes": nodes, "edges": edges}


def _layer_shapes(network, input_shape):
    if hasattr(network, "layer_shapes"):
        return [(name, tuple(shape)) for name, shape in network.layer_shapes()]
    x = np.zeros((1,) + tuple(input_shape), dtype=getattr(network, "dtype", np.float64))
    shapes = []
    for name, layer in network.layers.items():
        if getattr(layer, "has_train_mode", False):
            x = layer.forward(x, False)
        else:
            x = layer.forward(x)
        shapes.append((name, tuple(np.shape(x)[1:])))
    return shapes


def _param_owners(network):
    """layer name -> [(param name, gradient attribute)], in the network's param order."""
    owners = {}
    for param, (layer_name, attr) in getattr(network, "grad_map", {}).items():
        owners.setdefault(layer_name, []).append((param, attr))
    return owners


def _first_weighted_layer(network):
    for name, layer in network.layers.items():
        if isinstance(layer, (Affine, Convolution)):
            return name, layer
    return None, None


def _chosen(scores, limit=MAX_UNIT_IMAGES):
    """Indices of the images to draw: all, or the `limit` with the largest scores."""
    n = len(scores)
    if n <= limit:
        return np.arange(n)
    return np.sort(np.argsort(-np.asarray(scores), kind="stable")[:limit])


def first_layer_view(network, grads, output_grads, outputs, side=28):
    """The first layer with weights, as images (see the module docstring), or None."""
    name, layer = _first_weighted_layer(network)
    if layer is None:
        return None
    weight_param = next((p for p, attr in _param_owners(network).get(name, [])
                         if attr == "dW"), None)
    dW = grads[weight_param] if weight_param in grads else layer.dW
    W = np.asarray(layer.W)
    dW = np.asarray(dW)
    if isinstance(layer, Affine):
        if W.shape[0] != side * side:
            return {"kind": "affine", "layer": name, "param": weight_param,
                    "units_total": int(W.shape[1]), "shown": [],
                    "note": f"its {W.shape[0]} inputs are not a {side}x{side} image"}
        unit_norms = np.linalg.norm(dW, axis=0)
        shown = _chosen(unit_norms)
        weights, weight_scales = quantize(W[:, shown].T)
        wgrads, grad_scales = quantize(dW[:, shown].T)
        return {"kind": "affine", "layer": name, "param": weight_param,
                "units_total": int(W.shape[1]), "shown": [int(k) for k in shown],
                "image_shape": [side, side],
                "weights": weights, "weight_scales": weight_scales,
                "grads": wgrads, "grad_scales": grad_scales,
                "grad_norms": [float(f"{v:.6g}") for v in unit_norms[shown]]}
    # A convolution: each filter (channels stacked vertically) and its feature map.
    FN, C, FH, FW = W.shape
    filter_norms = np.linalg.norm(dW.reshape(FN, -1), axis=1)
    shown = _chosen(filter_norms)
    weights, weight_scales = quantize(W[shown].reshape(len(shown), C * FH, FW))
    wgrads, grad_scales = quantize(dW[shown].reshape(len(shown), C * FH, FW))
    view = {"kind": "conv", "layer": name, "param": weight_param,
            "units_total": int(FN), "shown": [int(k) for k in shown],
            "image_shape": [int(C * FH), int(FW)],
            "weights": weights, "weight_scales": weight_scales,
            "grads": wgrads, "grad_scales": grad_scales,
            "grad_norms": [float(f"{v:.6g}") for v in filter_norms[shown]]}
    if outputs is not None and name in output_grads:
        maps = np.asarray(outputs)[0][shown]          # (shown, OH, OW)
        map_grads = np.asarray(output_grads[name])[0][shown]
        view["map_shape"] = [int(d) for d in maps.shape[1:]]
        view["maps"], view["map_scales"] = quantize(maps)
        view["map_grads"], view["map_grad_scales"] = quantize(map_grads)
    return view


def backward_view(network, x, label, input_shape):
    """Run network.backprop on one sample x (shaped (1, *input_shape)) and label.

    Returns (answer dict, the backprop result). The caller holds the network's lock.
    """
    result = network.backprop(x, np.array([label]), train_flg=False)
    scores = np.asarray(result["scores"], dtype=np.float64).reshape(-1)
    shifted = np.exp(scores - scores.max())
    probabilities = shifted / shifted.sum()
    grads, output_grads = result["grads"], result["output_grads"]

    owners = _param_owners(network)
    # Each layer's output shape is its output gradient's: no extra forward pass.
    shapes = [(name, tuple(np.shape(output_grads[name])[1:])) for name in network.layers]
    layers = []
    for name, shape in shapes:
        layer = network.layers[name]
        entry = {"name": name, "type": type(layer).__name__,
                 "output_shape": [int(d) for d in shape],
                 "output_grad_norm": _norm(output_grads[name]) if name in output_grads else None,
                 "params": []}
        for param, _attr in owners.get(name, []):
            entry["params"].append({"name": param,
                                    "shape": [int(d) for d in network.params[param].shape],
                                    "norm": _norm(network.params[param]),
                                    "grad_norm": _norm(grads[param])})
        layers.append(entry)

    first_name, _ = _first_weighted_layer(network)
    outputs = _output_of(network, x, first_name) if first_name is not None else None
    answer = {
        "label": int(label),
        "loss": float(f"{result['loss']:.6g}"),
        "probabilities": significant(probabilities),
        "prediction": int(np.argmax(probabilities)),
        "input_grad": significant(result["input_grad"]),
        "input_grad_norm": _norm(result["input_grad"]),
        "layers": layers,
        "graph": graph_view(network, input_shape, shapes, result["input_grad"], output_grads),
        "first_layer": first_layer_view(network, grads, output_grads, outputs),
    }
    return answer, result


def _output_of(network, x, layer_name):
    """The output of one layer for x (inference mode); a convolution's feature maps.

    Only convolutions' maps are drawn, so for anything else nothing is computed.
    """
    if not isinstance(network.layers[layer_name], Convolution):
        return None
    # backprop does not keep the layers' outputs: the layers up to this one run again
    # on the same x (their caches are refilled with the values they already held).
    out = np.asarray(x, dtype=getattr(network, "dtype", np.float64))
    if hasattr(network, "_cast"):
        out = network._cast(out)
    for name, layer in network.layers.items():
        if getattr(layer, "has_train_mode", False):
            out = layer.forward(out, False)
        else:
            out = layer.forward(out)
        if name == layer_name:
            return out
    return None
