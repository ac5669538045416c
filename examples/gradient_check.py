"""The seed's gradient check: backprop against numerical gradients on three digits.

Prints the mean absolute difference per parameter, as the seed does, e.g.

    W1 : 4.1732553480615364e-10
    b1 : 2.775858926026874e-09
    W2 : 4.5858074004625796e-09
    b2 : 1.4009390000013777e-07

(the exact figures depend on the random initial weights; all should be tiny).
"""

import numpy as np

from chainrule import TwoLayerNet, load_dataset

(x_train, t_train), (x_test, t_test) = load_dataset("mnist-10k", one_hot_label=True)
x_train = x_train.astype(np.float64)  # numerical gradients need float64's digits

network = TwoLayerNet(input_size=784, hidden_size=50, output_size=10)
x_batch = x_train[:3]
t_batch = t_train[:3]

grad_numerical = network.numerical_gradient(x_batch, t_batch)
grad_backprop = network.gradient(x_batch, t_batch)

for key in grad_numerical.keys():
    diff = np.average(np.abs(grad_backprop[key] - grad_numerical[key]))
    print(f"{key} : {diff}")
