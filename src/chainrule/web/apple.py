r"""The book's figure 5-17, alive: two apples and three oranges with tax.

    apple ---------\
                    (x) -- apple_price --\
    apple_num -----/                      \
                                          (+) -- all_price --\
    orange --------\                      /                   (x) -- price
                    (x) -- orange_price -/                   /
    orange_num ----/                               tax -----/

`apple_graph(inputs)` runs the graph forward and backward with chainrule's own MulLayer
and AddLayer, exactly as examples/apple_orange.py does, and returns every edge's forward
value and the derivative of the price with respect to it. The web page edits the five
inputs and asks the server for this (POST /api/apple).
"""

import math

from ..graph import AddLayer, MulLayer
from .drawing import shown

__all__ = ["APPLE_DEFAULTS", "APPLE_EDGES", "APPLE_LIMIT", "AppleError", "apple_graph",
           "parse_apple_inputs"]

#: the seed's numbers
APPLE_DEFAULTS = {"apple": 100.0, "apple_num": 2.0, "orange": 150.0, "orange_num": 3.0,
                  "tax": 1.1}

#: every edge of the figure, from the inputs to the price
APPLE_EDGES = ("apple", "apple_num", "orange", "orange_num", "apple_price",
               "orange_price", "all_price", "tax", "price")

#: inputs larger than this in size are refused, so that every product stays finite
#: (1e9 cubed is 1e27, far from float64's 1.8e308)
APPLE_LIMIT = 1e9


class AppleError(ValueError):
    """An input of the apple graph is missing, unknown or not a usable number."""


def parse_apple_inputs(payload):
    """The five inputs from a request body: a JSON object of finite numbers."""
    if not isinstance(payload, dict):
        raise AppleError('the request body must be a JSON object like {"apple": 100, ...}')
    unknown = sorted(set(payload) - set(APPLE_DEFAULTS))
    if unknown:
        raise AppleError(f"unknown input(s) {', '.join(map(str, unknown))}; the inputs are "
                         f"{', '.join(APPLE_DEFAULTS)}")
    inputs = {}
    for name in APPLE_DEFAULTS:
        if name not in payload:
            raise AppleError(f'"{name}" is missing; the inputs are {", ".join(APPLE_DEFAULTS)}')
        value = payload[name]
        # bool is an int subclass: true is not a price.
        if type(value) not in (int, float):
            raise AppleError(f'"{name}" must be a number, got {type(value).__name__}')
        # Size first: math.isfinite cannot take an integer of hundreds of digits.
        if abs(value) > APPLE_LIMIT or not math.isfinite(value):
            raise AppleError(f'"{name}" must be a finite number of size at most '
                             f"{APPLE_LIMIT:g}, got {shown(value)}")
        inputs[name] = float(value)
    return inputs


def apple_graph(inputs=None):
    """Forward values and derivatives of the price on every edge of figure 5-17.

    inputs: a dict with the five inputs (default: the seed's numbers). Returns
    {"edges": {edge: {"value": v, "grad": dprice/dv}}, "price": price}; the price's own
    derivative is 1.
    """
    x = dict(APPLE_DEFAULTS if inputs is None else inputs)
    mul_apple, mul_orange, add_fruit, mul_tax = MulLayer(), MulLayer(), AddLayer(), MulLayer()

    apple_price = mul_apple.forward(x["apple"], x["apple_num"])
    orange_price = mul_orange.forward(x["orange"], x["orange_num"])
    all_price = add_fruit.forward(apple_price, orange_price)
    price = mul_tax.forward(all_price, x["tax"])

    dprice = 1
    dall_price, dtax = mul_tax.backward(dprice)
    dapple_price, dorange_price = add_fruit.backward(dall_price)
    dorange, dorange_num = mul_orange.backward(dorange_price)
    dapple, dapple_num = mul_apple.backward(dapple_price)

    values = {"apple": x["apple"], "apple_num": x["apple_num"], "orange": x["orange"],
              "orange_num": x["orange_num"], "apple_price": apple_price,
              "orange_price": orange_price, "all_price": all_price, "tax": x["tax"],
              "price": price}
    grads = {"apple": dapple, "apple_num": dapple_num, "orange": dorange,
             "orange_num": dorange_num, "apple_price": dapple_price,
             "orange_price": dorange_price, "all_price": dall_price, "tax": dtax,
             "price": dprice}
    edges = {name: {"value": float(values[name]), "grad": float(grads[name])}
             for name in APPLE_EDGES}
    return {"edges": edges, "price": float(price)}
