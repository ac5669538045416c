"""The seed's apple examples as computational graphs (the book's figures 5-16 and 5-17).

The code inside each `with` block is the seed's, unchanged: chainrule.trace.record
writes down every forward and backward call of the layers while it runs. The graph is
printed as Graphviz DOT text and, if Graphviz is installed (apt-get install graphviz),
drawn to apple.svg and apple_orange.svg: forward values above each edge, derivatives
below in red.

    python examples/graph_apple.py [OUTPUT_DIR]
"""

import os
import sys

from chainrule import AddLayer, MulLayer
from chainrule.draw import GraphvizNotFoundError, render, to_dot
from chainrule.trace import record


def apple():
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

    print(price)                          # 220.00000000000003
    print(dapple, dapple_num, dtax)       # 2.2 110.00000000000001 200
    # Names cannot be read from the code; give them, in the order the inputs were used.
    g.name_leaves("apple", "apple_num", "tax")
    g.name(price=price)
    return g


def apple_orange():
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

    print(price)                                          # 715.0000000000001
    print(dapple_num, dapple, dorange, dorange_num, dtax)  # 110.00000000000001 2.2 3.3000000000000003 165.0 650
    g.name_leaves("apple", "apple_num", "orange", "orange_num", "tax")
    g.name(price=price)
    return g


def main(out_dir="."):
    for name, build in (("apple", apple), ("apple_orange", apple_orange)):
        text = to_dot(build())
        print(text)
        path = os.path.join(out_dir, name + ".svg")
        try:
            render(text, path)
        except GraphvizNotFoundError as exc:
            print(exc, file=sys.stderr)
            return
        print("wrote", path)


if __name__ == "__main__":
    main(*sys.argv[1:2])
