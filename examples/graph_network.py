"""A network's layers as a graph, with the shape of every array between them.

layer_graph runs one forward pass on a dummy batch while recording, so the shapes are
the real ones, the batch axis written as N: (N, 784) -> Affine1 -> (N, 50) -> ...
The same as `chainrule graph two-layer -o two_layer.svg`.

    python examples/graph_network.py [OUTPUT_DIR]
"""

import os
import sys

from chainrule.draw import GraphvizNotFoundError, render, to_dot
from chainrule.models import TwoLayerNet
from chainrule.trace import layer_graph


def main(out_dir="."):
    network = TwoLayerNet(input_size=784, hidden_size=50, output_size=10)
    graph = layer_graph(network)
    for node in graph.nodes:
        shapes = [e.value.shape for e in node.inputs]
        print(f"{node.label:16s} inputs {shapes}")
    text = to_dot(graph, title="TwoLayerNet")
    path = os.path.join(out_dir, "two_layer.svg")
    try:
        render(text, path)
        print("wrote", path)
    except GraphvizNotFoundError as exc:
        print(text)
        print(exc, file=sys.stderr)


if __name__ == "__main__":
    main(*sys.argv[1:2])
