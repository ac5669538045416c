"""Recording what layers did: the computational graph behind the book's figures 5-16 and 5-17.

The book draws backpropagation as a graph: a node per operation ("x", "+"), an edge per
value, the forward value written above each edge and, after the backward pass, the
derivative below it. This module records that graph from ordinary code::

    from chainrule import MulLayer
    from chainrule.trace import record
    from chainrule.draw import to_dot

    with record() as g:
        mul_apple_layer = MulLayer()
        mul_tax_layer = MulLayer()
        apple_price = mul_apple_layer.forward(100, 2)
        price = mul_tax_layer.forward(apple_price, 1.1)
        dapple_price, dtax = mul_tax_layer.backward(1)
        dapple, dapple_num = mul_apple_layer.backward(dapple_price)
    g.name_leaves("apple", "apple_num", "tax")
    g.name(price=price)
    print(to_dot(g))

How it works, and why that way
------------------------------
Inside the ``with`` block the ``forward`` and ``backward`` methods of the layer classes
(chainrule's own, plus any classes passed to ``record``) are replaced by thin wrappers
that call the original method and then write down what went in and what came out. On
leaving the block, even through an exception, the original methods are put back. So the
user's script needs no change at all: the seed's cells run as they are.

Edges are connected by *object identity*: if an argument of a forward call is the very
object some recorded call returned, an edge runs from that call to this one. Anything
else is a *leaf*, an input of the graph, and every argument position gets its own leaf,
even when two positions receive the same object: Python shares the objects of small
integers (-5..256) and of equal constants in one code block, so ``apple_num = 2`` and a
second, unrelated ``2`` may well be one object, and merging them would draw a wrong
graph. The one ambiguity identity cannot resolve: an output that is a small integer
(``100 * 2`` is the shared object 200) is indistinguishable from a literal 200 typed
later, and both are connected to the node that produced it. Floats computed at run time
and NumPy arrays are always new objects, so they never collide.

A backward call is paired with the most recent forward call of the same layer object
that has no backward yet (backpropagation visits the layers in reverse order). Its
argument ``dout`` is the derivative arriving at that node's output; what it returns,
one derivative per input (a tuple for MulLayer/AddLayer, a single array for Affine),
becomes the derivative written on each input edge.

The recording is per thread: a web server or a training loop running in another thread
while a graph is being recorded is not written into it.
"""

import contextlib
import functools
import inspect
import threading

import numpy as np

__all__ = ["record", "Graph", "Node", "Leaf", "Edge", "layer_graph",
           "apple_example", "apple_orange_example", "default_layer_classes"]

# Arrays up to this many elements are copied when recorded, so the drawing shows the
# values as they were then even if the caller later changes the array in place.
_SNAPSHOT_SIZE = 64


class Leaf:
    """An input of the graph: a value that no recorded layer produced.

    name      what to call it in drawings (None until named);
    value     the value (small arrays copied);
    position  which argument of the consuming node it was (0 for x, 1 for y, ...).
    """

    def __init__(self, index, value, consumer, position, param):
        self.index = index
        self.value = value
        self.consumer = consumer
        self.position = position
        self.param = param
        self.name = None

    @property
    def label(self):
        return self.name if self.name is not None else f"input{self.index}"

    def __repr__(self):
        return f"Leaf({self.label}={_short(self.value)})"


class Node:
    """One recorded forward call of a layer, e.g. ``mul_tax_layer.forward(apple_price, tax)``.

    layer     the layer object;
    kind      "mul", "add" or "layer": how to draw it (a circle with x or +, or a box);
    name      a display name (a network's layer name such as "Affine1"), or None;
    inputs    the edges coming in, one per data argument, in argument order;
    output    the object forward returned (kept, so its identity stays unique);
    attrs     non-data arguments, e.g. {"train_flg": False};
    dout      the derivative its backward call received (None before backward);
    backward_done  whether a backward call was recorded.
    """

    def __init__(self, index, layer, inputs, output, attrs):
        self.index = index
        self.layer = layer
        self.inputs = inputs
        self.output = output
        self.output_value = _snapshot(output)
        self.attrs = attrs
        self.name = None
        self.output_name = None
        self.consumers = []
        self.dout = None
        self.backward_done = False

    @property
    def op(self):
        """The class name of the layer: "MulLayer", "Affine", ..."""
        return type(self.layer).__name__

    @property
    def kind(self):
        op = self.op
        if op == "MulLayer":
            return "mul"
        if op == "AddLayer":
            return "add"
        return "layer"

    @property
    def label(self):
        return self.name if self.name is not None else f"{self.op}{self.index}"

    def __repr__(self):
        ins = ", ".join(_short(e.value) for e in self.inputs)
        return f"Node({self.label}: {self.op}({ins}) = {_short(self.output_value)})"


class Edge:
    """A value travelling from `source` (a Leaf or a Node) to `target` (a Node, or None
    for an output of the whole graph).

    value     the forward value;
    grad      the derivative of the final result with respect to this value, as the
              backward pass computed it (None before backward, or when the layer does
              not return a derivative for this input, like the labels t of the loss);
    position  the argument position at the target; param its parameter name ("x", "y").
    """

    def __init__(self, source, target, position, param, value):
        self.source = source
        self.target = target
        self.position = position
        self.param = param
        self.value = value
        self.grad = None

    @property
    def from_leaf(self):
        """Whether the value enters the graph here (an input or a parameter)."""
        return isinstance(self.source, Leaf)

    @property
    def name(self):
        """The name of the value on this edge: the leaf's name, or the producing node's
        output name (e.g. "price"), or None."""
        if self.from_leaf:
            return self.source.name
        return self.source.output_name

    def __repr__(self):
        src = self.source.label
        dst = self.target.label if self.target is not None else "(output)"
        return f"Edge({src} -> {dst}: {_short(self.value)} / d {_short(self.grad)})"


class Graph:
    """The recorded computational graph: `nodes` in forward order, `leaves` (inputs) in
    the order they were first used, and `edges` (see :meth:`edges`).

    `batch_size` is set by :func:`layer_graph` so drawings can write the batch axis as N.
    """

    def __init__(self):
        self.nodes = []
        self.leaves = []
        self.batch_size = None
        self.params = {}          # id(array) -> parameter name, for drawing layer boxes
        self._produced = {}       # id(output) -> node; the node keeps the object alive
        self._open_forward = {}   # id(layer) -> nodes still waiting for their backward

    # -- what was recorded ----------------------------------------------------------------
    @property
    def outputs(self):
        """Edges leaving nodes whose output no recorded call consumed: the graph's results."""
        result = []
        for node in self.nodes:
            if not node.consumers:
                edge = getattr(node, "_output_edge", None)
                if edge is None:
                    edge = Edge(node, None, 0, None, node.output_value)
                    node._output_edge = edge
                edge.grad = _snapshot(node.dout) if node.backward_done else None
                result.append(edge)
        return result

    @property
    def edges(self):
        """Every edge: each node's input edges in forward order, then the output edges."""
        result = []
        for node in self.nodes:
            result.extend(node.inputs)
        result.extend(self.outputs)
        return result

    def find(self, op=None, name=None):
        """The nodes whose layer class is `op` and/or whose display name is `name`."""
        return [n for n in self.nodes
                if (op is None or n.op == op) and (name is None or n.name == name)]

    def leaf(self, name):
        """The first leaf called `name`, or labelled so if unnamed ("input0"); KeyError
        if none."""
        for leaf in self.leaves:
            if leaf.label == name:
                return leaf
        raise KeyError(f"no leaf named {name!r}; leaves: {[l.label for l in self.leaves]}")

    def leaf_edge(self, name):
        """The edge carrying the leaf called `name` into its node."""
        leaf = self.leaf(name)
        return leaf.consumer.inputs[leaf.position]

    # -- naming -------------------------------------------------------------------------
    def name_leaves(self, *names):
        """Name the leaves in the order they were first used: the unambiguous way.

        In the apple example the leaves appear as apple, apple_num, tax.
        """
        if len(names) > len(self.leaves):
            raise ValueError(f"{len(names)} names for {len(self.leaves)} leaves")
        for leaf, name in zip(self.leaves, names):
            leaf.name = name
        return self

    def name(self, **values):
        """Name values by giving them: ``g.name(apple=apple, price=price)``.

        A value that some recorded node returned (the very object) names that node's
        output. Otherwise it names every leaf holding that object or, failing that, an
        equal value. Because equal small numbers are often one shared object, two names
        that match the same leaf are an error: use :meth:`name_leaves` then.
        """
        claimed = {}
        for name, value in values.items():
            node = self._produced.get(id(value))
            if node is not None and node.output is value:
                node.output_name = name
                continue
            matches = [leaf for leaf in self.leaves if leaf.value is value]
            if not matches:
                matches = [leaf for leaf in self.leaves if _equal(leaf.value, value)]
            if not matches:
                raise ValueError(f"{name}={_short(value)} is not a value of this graph")
            for leaf in matches:
                if leaf.index in claimed:
                    raise ValueError(
                        f"{name} and {claimed[leaf.index]} both match leaf {leaf.index} "
                        f"(value {_short(leaf.value)}); name the leaves in order with "
                        f"name_leaves(...) instead")
                claimed[leaf.index] = name
                leaf.name = name
        return self

    def name_layers(self, layers):
        """Name nodes after a dict name -> layer, such as a network's ``layers``."""
        by_id = {id(layer): name for name, layer in layers.items()}
        for node in self.nodes:
            if id(node.layer) in by_id:
                node.name = by_id[id(node.layer)]
        return self

    # -- recording (called by the wrappers) ------------------------------------------------
    def _record_forward(self, layer, method, args, kwargs, out):
        node = Node(len(self.nodes), layer, [], out, {})
        arguments = _data_arguments(method, layer, args, kwargs, node.attrs)
        # A layer may read a value that is not an argument (a residual group's add reads
        # the group's input): it names it in graph_inputs(), and the graph draws the edge.
        extra = getattr(layer, "graph_inputs", None)
        arguments += list(extra()) if callable(extra) else []
        for position, (param, value) in enumerate(arguments):
            producer = self._produced.get(id(value))
            if producer is not None and producer.output is value:
                edge = Edge(producer, node, position, param, _snapshot(value))
                producer.consumers.append(edge)
            else:
                leaf = Leaf(len(self.leaves), _snapshot(value), node, position, param)
                self.leaves.append(leaf)
                edge = Edge(leaf, node, position, param, leaf.value)
            node.inputs.append(edge)
        self.nodes.append(node)
        # The latest producer of an object wins: a layer that hands back its input
        # unchanged (dropout at test time) becomes the source for the next consumer.
        self._produced[id(out)] = node
        self._open_forward.setdefault(id(layer), []).append(node)

    def _record_backward(self, layer, method, args, kwargs, result):
        waiting = self._open_forward.get(id(layer))
        if not waiting:
            return  # its forward call happened outside the recording
        node = waiting.pop()
        node.dout = _first_argument(method, layer, args, kwargs)
        node.backward_done = True
        grads = result if isinstance(result, (tuple, list)) else (result,)
        extra = getattr(layer, "graph_input_grads", None)
        if callable(extra):
            grads = tuple(grads) + tuple(extra(node.dout))
        for edge, grad in zip(node.inputs, grads):
            edge.grad = _snapshot(grad)

    def __repr__(self):
        return f"Graph({len(self.nodes)} nodes, {len(self.leaves)} leaves)"

    def _repr_svg_(self):
        """The picture Jupyter shows (IPython's display protocol): chainrule.display."""
        if not self.nodes:
            return None  # nothing recorded: the text repr says so
        from .display import graph_svg
        return graph_svg(self)


# -- the data arguments of a call ---------------------------------------------------------
def _is_data(value):
    """Numbers and arrays are values flowing through the graph; bools, None and the rest
    (train_flg, input_grad) are settings of the call."""
    if isinstance(value, (bool, np.bool_)) or value is None:
        return False
    return isinstance(value, (int, float, complex, np.number, np.ndarray))


def _bound_arguments(method, layer, args, kwargs):
    try:
        signature = inspect.signature(method)
        bound = signature.bind(layer, *args, **kwargs)
    except (TypeError, ValueError):
        return None
    bound.apply_defaults()
    items = list(bound.arguments.items())[1:]  # drop self
    flat = []
    for name, value in items:
        kind = signature.parameters[name].kind
        if kind is inspect.Parameter.VAR_POSITIONAL:
            flat.extend((f"{name}{i}", v) for i, v in enumerate(value))
        elif kind is inspect.Parameter.VAR_KEYWORD:
            flat.extend(value.items())
        else:
            flat.append((name, value))
    return flat


def _data_arguments(method, layer, args, kwargs, attrs):
    """(parameter name, value) of each data argument, in order; settings go to attrs."""
    flat = _bound_arguments(method, layer, args, kwargs)
    if flat is None:
        flat = [(f"arg{i}", v) for i, v in enumerate(args)] + list(kwargs.items())
    data = []
    for name, value in flat:
        if _is_data(value):
            data.append((name, value))
        else:
            attrs[name] = value
    return data


def _first_argument(method, layer, args, kwargs):
    """dout of a backward call, including its default (SoftmaxWithLoss.backward(dout=1))."""
    flat = _bound_arguments(method, layer, args, kwargs)
    if flat:
        return flat[0][1]
    return args[0] if args else None


def _snapshot(value):
    if isinstance(value, np.ndarray) and value.size <= _SNAPSHOT_SIZE:
        return value.copy()
    return value


def _equal(a, b):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        try:
            return bool(np.array_equal(a, b))
        except (TypeError, ValueError):
            return False
    try:
        return type(a) is type(b) and bool(a == b)
    except (TypeError, ValueError):
        return False


def _short(value):
    if isinstance(value, np.ndarray):
        return f"array{value.shape}"
    return repr(value)


# -- patching the layer classes -------------------------------------------------------------
_state = threading.local()       # per thread: the stack of open graphs, the call depth
_patch_lock = threading.Lock()
_patched = {}                    # (class, method name) -> [original function, users]


def _active_graph():
    stack = getattr(_state, "graphs", None)
    return stack[-1] if stack else None


def _wrap(original, is_forward):
    """A replacement method that calls `original` and records the call.

    Only the outermost call is recorded: a layer whose forward calls another layer's
    forward (a subclass calling super(), or a block built from layers) is one node.
    """
    @functools.wraps(original)
    def method(self, *args, **kwargs):
        graph = _active_graph()
        if graph is None or getattr(_state, "depth", 0):
            return original(self, *args, **kwargs)
        _state.depth = 1
        try:
            result = original(self, *args, **kwargs)
        finally:
            _state.depth = 0
        if is_forward:
            graph._record_forward(self, original, args, kwargs, result)
        else:
            graph._record_backward(self, original, args, kwargs, result)
        return result

    method.__chainrule_trace_original__ = original
    return method


def _patch(classes):
    with _patch_lock:
        for cls in classes:
            for name in ("forward", "backward"):
                original = cls.__dict__.get(name)
                if not inspect.isfunction(original):
                    continue
                key = (cls, name)
                if key in _patched:
                    _patched[key][1] += 1
                else:
                    _patched[key] = [original, 1]
                    setattr(cls, name, _wrap(original, name == "forward"))


def _unpatch(classes):
    with _patch_lock:
        for cls in classes:
            for name in ("forward", "backward"):
                key = (cls, name)
                if key not in _patched:
                    continue
                _patched[key][1] -= 1
                if _patched[key][1] == 0:
                    original, _ = _patched.pop(key)
                    setattr(cls, name, original)


def default_layer_classes():
    """The classes recorded by default: every class with both forward and backward of
    chainrule.graph and of the layer modules (the book's, the sequel's, the
    transformer's, residual groups), and every layer class registered by one's own code."""
    from . import compose  # noqa: F401  (imports, and so registers, every layer module)
    from . import graph, layers, registry, residual, time_layers, transformer
    classes = []
    for module in (graph, layers, time_layers, transformer, residual):
        for value in vars(module).values():
            if (inspect.isclass(value) and value.__module__ == module.__name__
                    and callable(getattr(value, "forward", None))
                    and callable(getattr(value, "backward", None))):
                classes.append(value)
    classes += [cls for cls in registry.LAYER_TYPES.values() if cls not in classes]
    return classes


@contextlib.contextmanager
def record(*classes):
    """Record the forward and backward calls of layers made inside the block.

    Yields a :class:`Graph` that fills up as the block runs. chainrule's own layer
    classes are always recorded; pass your own classes (for instance the MulLayer you
    typed in from the book) to record them too: ``with record(MulLayer, AddLayer) as g:``.
    The classes are restored when the block ends, however it ends.
    """
    for cls in classes:
        if not inspect.isclass(cls):
            raise TypeError(f"record() takes layer classes, got {cls!r}")
    patched = list(dict.fromkeys(default_layer_classes() + list(classes)))
    graph = Graph()
    _patch(patched)
    if not hasattr(_state, "graphs"):
        _state.graphs = []
    _state.graphs.append(graph)
    try:
        yield graph
    finally:
        _state.graphs.remove(graph)
        _unpatch(patched)


# -- the layer graph of a network -----------------------------------------------------------
def _input_shape(network):
    if getattr(network, "input_shape", None):
        return tuple(int(d) for d in network.input_shape)
    config = getattr(network, "config", {}) or {}
    if "input_dim" in config:
        return tuple(int(d) for d in config["input_dim"])
    if "input_size" in config:
        return (int(config["input_size"]),)
    for layer in getattr(network, "layers", {}).values():
        W = getattr(layer, "W", None)
        if isinstance(W, np.ndarray):
            return tuple(W.shape[1:]) if W.ndim == 4 else (W.shape[0],)
    raise ValueError("cannot tell the input shape of this network; pass input_shape=")


def layer_graph(network, input_shape=None, batch_size=2, with_loss=True, seed=0):
    """Record one forward pass of `network` on a dummy batch: nodes are its layers, edges
    carry the shapes of the arrays between them.

    input_shape  the shape of one sample, e.g. (784,) or (1, 28, 28); taken from the
                 network's config (input_size / input_dim) when not given;
    batch_size   the dummy batch's size (drawn as N);
    with_loss    also run the loss layer (lastLayer) on dummy labels.
    The network is run in inference mode (train_flg=False) and left as it was, except
    for the values layers cache for their backward pass.
    """
    shape = tuple(input_shape) if input_shape is not None else _input_shape(network)
    rng = np.random.default_rng(seed)
    dtype = getattr(network, "dtype", np.float64)
    if getattr(network, "takes_tokens", False):  # token ids, from the embedding's rows
        first = next(iter(network.layers.values()))
        x = rng.integers(0, first.W.shape[0], (batch_size,) + shape)
    else:
        x = rng.standard_normal((batch_size,) + shape).astype(dtype)
    with record() as graph:
        scores = network.predict(x)
        if with_loss and getattr(network, "lastLayer", None) is not None:
            t = np.zeros(np.shape(scores)[:-1], dtype=np.int64)
            network.lastLayer.forward(scores, t)
    graph.batch_size = batch_size
    layers = dict(getattr(network, "layers", {}))
    if getattr(network, "lastLayer", None) is not None:
        layers.setdefault(type(network.lastLayer).__name__, network.lastLayer)
    graph.name_layers(layers)
    graph.params = {id(value): name for name, value in getattr(network, "params", {}).items()}
    for node in graph.nodes:
        if not node.consumers:
            node.output_name = "loss" if node.layer is getattr(network, "lastLayer", None) else "scores"
    for leaf in graph.leaves:
        if leaf.value is x:
            leaf.name = "x"
        elif leaf.consumer.layer is getattr(network, "lastLayer", None):
            leaf.name = "t"
    return graph


# -- the seed's two examples ----------------------------------------------------------------
def apple_example():
    """The seed's apple example (book figure 5-16), recorded: 2 apples at 100, tax 1.1.

    The code inside the block is the seed's cells as they are.
    """
    from .graph import MulLayer
    with record() as g:
        apple = 100
        apple_num = 2
        tax = 1.1

        # layers
        mul_apple_layer = MulLayer()
        mul_tax_layer = MulLayer()

        # forward
        apple_price = mul_apple_layer.forward(apple, apple_num)
        price = mul_tax_layer.forward(apple_price, tax)

        # backward
        dprice = 1
        dapple_price, dtax = mul_tax_layer.backward(dprice)
        dapple, dapple_num = mul_apple_layer.backward(dapple_price)
    g.name_leaves("apple", "apple_num", "tax")
    g.name(price=price)
    return g


def apple_orange_example():
    """The seed's apple-and-orange example (book figure 5-17), recorded."""
    from .graph import AddLayer, MulLayer
    with record() as g:
        apple = 100
        apple_num = 2
        orange = 150
        orange_num = 3
        tax = 1.1

        # layers
        mul_apple_layer = MulLayer()
        mul_orange_layer = MulLayer()
        add_apple_orange_layer = AddLayer()
        mul_tax_layer = MulLayer()

        # forward
        apple_price = mul_apple_layer.forward(apple, apple_num)
        orange_price = mul_orange_layer.forward(orange, orange_num)
        all_price = add_apple_orange_layer.forward(apple_price, orange_price)
        price = mul_tax_layer.forward(all_price, tax)

        # backward
        dprice = 1
        dall_price, dtax = mul_tax_layer.backward(dprice)
        dapple_price, dorange_price = add_apple_orange_layer.backward(dall_price)
        dorange, dorange_num = mul_orange_layer.backward(dorange_price)
        dapple, dapple_num = mul_apple_layer.backward(dapple_price)
    g.name_leaves("apple", "apple_num", "orange", "orange_num", "tax")
    g.name(price=price)
    return g
