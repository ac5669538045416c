"""Buying two apples with tax (the seed's first graph): forward, then backward.

Prints the price and the derivatives of the price with respect to the apple's price,
the number of apples and the tax, exactly as the seed does:

    220.00000000000003
    2.2 110.00000000000001 200
"""

from chainrule import MulLayer

apple = 100
apple_num = 2
tax = 1.1

# layers
mul_apple_layer = MulLayer()
mul_tax_layer = MulLayer()

# forward
apple_price = mul_apple_layer.forward(apple, apple_num)
price = mul_tax_layer.forward(apple_price, tax)

print(price)

# backward
dprice = 1
dapple_price, dtax = mul_tax_layer.backward(dprice)
dapple, dapple_num = mul_apple_layer.backward(dapple_price)

print(dapple, dapple_num, dtax)
