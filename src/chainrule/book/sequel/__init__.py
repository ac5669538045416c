"""The sequel's module layout served by chainrule: its scripts run unchanged.

*Deep Learning from Scratch 2*'s repository has its scripts in ch01/ ... ch08/, which
import `common.layers`, `common.time_layers`, `common.functions`, `common.optimizer`,
`common.trainer`, `common.util`, `common.base_model`, `common.config`, `common.np` and
`dataset.ptb`, `dataset.sequence`, `dataset.spiral` from the checkout. This package
holds chainrule's versions of those modules, with the sequel's names, signatures and
protocol (layers keep `params` and `grads` lists and write gradients into `grads` in
place), computing with chainrule's layers. `chainrule book run` serves them when the
script belongs to a checkout of the sequel (chainrule.book.runner.layout_of).
"""

#: the modules of the sequel's layout, by the names its scripts import them by
SEQUEL_MODULES = ("common", "common.config", "common.np", "common.functions",
                  "common.layers", "common.time_layers", "common.optimizer",
                  "common.util", "common.trainer", "common.base_model",
                  "dataset", "dataset.ptb", "dataset.sequence", "dataset.spiral")

__all__ = ["SEQUEL_MODULES"]
