"""Stopping a `chainrule train` run part-way, as Ctrl-C would: with a callback on the
run's trainer (tests/test_cli.py, tests/test_callbacks.py)."""

from chainrule import cli
from chainrule.callbacks import Callback
from chainrule.cli.training import TrainingRun


class StopAfter(Callback):
    """Ask the run to stop after step `step`, as Ctrl-C would."""

    def __init__(self, step):
        self.step = step

    def on_iteration_end(self, iteration, loss):
        if iteration == self.step:
            self.trainer.request_stop()


def stopped_run(argv, step):
    """`chainrule train` with argv, stopped after step `step`: its exit status."""
    run = TrainingRun(cli.make_parser().parse_args(argv))
    run.trainer.callbacks.append(StopAfter(step))
    return run.execute()
