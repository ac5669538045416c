"""The seed's training loop, written out as in the book, with its one bug fixed.

TwoLayerNet 784-50-10, mini-batch SGD, batch 100, lr 0.1, 10,000 iterations, accuracy
on the whole training and test sets once per epoch. The seed updates
("W1", "b2", "W2", "b2"), so b1 never learns and b2 moves twice per step; here every
parameter is updated once. `chainrule train` runs the same experiment, faster.

Runs on the bundled 8,000/2,000 digits; pass a data set name ("mnist",
"fashion-mnist") as the first argument for a full one.
"""

import sys

import numpy as np

from chainrule import TwoLayerNet, load_dataset

name = sys.argv[1] if len(sys.argv) > 1 else "mnist-10k"
(x_train, t_train), (x_test, t_test) = load_dataset(name, normalize=True, one_hot_label=True)
network = TwoLayerNet(input_size=784, hidden_size=50, output_size=10)

iters_num = 10000
train_size = x_train.shape[0]
batch_size = 100
learning_rate = 0.1

train_loss_list = []
train_acc_list = []
test_acc_list = []

iter_per_epoch = max(train_size // batch_size, 1)

for i in range(iters_num):
    batch_mask = np.random.choice(train_size, batch_size)
    x_batch = x_train[batch_mask]
    t_batch = t_train[batch_mask]

    grad = network.gradient(x_batch, t_batch)

    for key in ("W1", "b1", "W2", "b2"):
        network.params[key] -= learning_rate * grad[key]

    loss = network.last_loss  # the loss of the forward pass gradient() just ran
    train_loss_list.append(loss)

    if i % iter_per_epoch == 0:
        train_acc = network.accuracy(x_train, t_train)
        test_acc = network.accuracy(x_test, t_test)
        train_acc_list.append(train_acc)
        test_acc_list.append(test_acc)
        print(f"train_acc: {train_acc:.4f}, test_acc: {test_acc:.4f}")
