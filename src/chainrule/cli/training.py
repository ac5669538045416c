"""A `chainrule train` run as an object.

TrainingRun(args) checks what was asked, loads the data and builds the network and the
trainer, either from the options (a new run) or from the checkpoint given to --resume
(the saved run, as it was set up); execute() then trains and reports, returning the
exit status. The arguments are only read, never changed.

    run = TrainingRun(make_parser().parse_args(["train", "--iters", "100"]))
    run.trainer.callbacks.append(my_callback)
    status = run.execute()
"""

import importlib.util
import json
import os
import sys
from dataclasses import dataclass

import numpy as np

from .. import threads
from ..callbacks import (BestCheckpoint, EarlyStopping, EpochCheckpoint, MetricsFile,
                         ReduceLROnPlateau)
from ..datasets import TEXT_DATASETS, DatasetError
from ..trainer import Trainer, TrainingDiverged, TrainingInterrupted
from .common import (DATASET_CHOICES, CommandError, check_listen, dataset_message, error,
                     inputs_of, listen_error, load_model_file, note, resolve_threads)
from .data import load_data, load_like, load_own_data
from .options import LENGTH_OPTIONS, RUN_OPTIONS
from .outputs import interrupt_path, outputs_problem, rescue_state, resume_advice
from .presets import build_model, input_shape_for, model_options_problem

# The learning rate each optimizer gets when --lr is not given: the seed's 0.1 for SGD,
# the usual starting points for the others.
DEFAULT_LR = {"sgd": 0.1, "momentum": 0.01, "nesterov": 0.01, "adagrad": 0.01,
              "rmsprop": 0.001, "adam": 0.001, "adamw": 0.001}
DEFAULT_BATCH_SIZE = 100
SEED_ITERS = 10000  # the seed's experiment


# -- what the options ask for ------------------------------------------------------------
def optimizer_settings(args, name=None, default_lr=None):
    """(name, settings) of the optimizer the options ask for; `name` and `default_lr`
    stand in for --optimizer and the optimizer's usual rate where not given (a
    language model's own defaults)."""
    name = (args.optimizer or name or "sgd").lower()
    if args.lr is not None:
        lr = args.lr
    else:
        lr = default_lr if default_lr is not None else DEFAULT_LR[name]
    settings = {"lr": lr}
    if name in ("momentum", "nesterov"):
        settings["momentum"] = args.momentum
    if name in ("adam", "adamw"):
        settings["beta1"] = args.beta1
        settings["beta2"] = args.beta2 if args.beta2 is not None else 0.999
    if name == "rmsprop":
        settings["decay_rate"] = args.decay_rate
    return name, settings


def monitor_of(args):
    return args.monitor or ("val_loss" if args.validation_split else "loss")


def callback_spec(args):
    """The callbacks the command line asked for, as JSON (kept in the checkpoint, so
    that --resume rebuilds them)."""
    monitor = monitor_of(args)
    spec = {}
    if args.early_stopping:
        spec["early_stopping"] = {"monitor": monitor, "patience": args.early_stopping,
                                  "min_delta": args.min_delta,
                                  "restore_best_weights": True}
    if args.best_checkpoint:
        spec["best_checkpoint"] = {"path": os.path.abspath(args.best_checkpoint),
                                   "monitor": monitor}
    if args.lr_schedule == "plateau":
        spec["plateau"] = {"monitor": monitor, "factor": args.plateau_factor,
                           "patience": args.plateau_patience}
    return spec


def make_callbacks(spec):
    """The callbacks of a spec, always in the same order (their state is saved by
    position)."""
    callbacks = []
    if "plateau" in spec:
        callbacks.append(ReduceLROnPlateau(**spec["plateau"]))
    if "early_stopping" in spec:
        callbacks.append(EarlyStopping(**spec["early_stopping"]))
    if "best_checkpoint" in spec:
        callbacks.append(BestCheckpoint(**spec["best_checkpoint"]))
    return callbacks


def make_augment(config):
    if not config:
        return None
    from ..augmentation import Augment
    return Augment(**config)


def ignored_with_resume(args):
    """The run options given with --resume (other than the defaults), as flags."""
    given = []
    for dest in RUN_OPTIONS:
        if dest in LENGTH_OPTIONS:
            continue
        value = getattr(args, dest, None)
        if value is not None and value != args.parser_defaults.get(dest):
            flag = "--" + dest.replace("_", "-")
            if isinstance(value, list):
                value = " ".join(map(str, value))
            given.append(flag if value is True else f"{flag} {value}")
    return given


def draw_seed(comm=None):
    """A new seed; with MPI, rank 0's for every rank (each would draw its own)."""
    seed = np.array([np.random.SeedSequence().entropy % 2**32], dtype=np.int64)
    if comm is not None:
        comm.Bcast(seed, root=0)
    return int(seed[0])


def new_length(args, resumed):
    """The total number of steps of a resumed run: the saved one, or the one --epochs
    or --iters now asks for (continuing a finished run to a new total)."""
    training = resumed.training
    if args.iters:
        total = args.iters
    elif args.epochs:
        per_epoch = -(-training["train_size"] // training["batch_size"])
        total = args.epochs * per_epoch
    else:
        return training["max_iter"]
    if total < training["iteration"]:
        raise ValueError(f"{args.resume} is at iteration {training['iteration']} "
                         f"(epoch {training['epoch']}); a total of {total} steps is behind it")
    return total


def length_note(trainer, old_total):
    """One line on how a resumed run's new length changes its schedule."""
    per_epoch = trainer.iter_per_epoch
    text = (f"continuing to {trainer.max_iter} steps ({trainer.max_iter / per_epoch:g} "
            f"epochs) instead of {old_total}")
    if trainer.lr_schedule == "cosine":
        now = trainer.base_lr * trainer.lr_factor(trainer.current_iter / trainer.max_iter)
        text += (f"; the cosine schedule is stretched over the new total, so the learning "
                 f"rate goes from its value at step {trainer.current_iter} of {old_total} "
                 f"to {now:.3g} and falls to 0 at step {trainer.max_iter}")
    return text


# -- the run's settings: from the options, or from a checkpoint ----------------------------
@dataclass
class Plan:
    """Everything the trainer is built from."""
    network: object
    optimizer: object
    optimizer_param: dict
    seed: int
    batch_size: int
    epochs: object
    iters: object
    lr_schedule: str
    callback_spec: dict
    validation_split: float
    augment: object
    clip_grad: object = None

    @classmethod
    def from_args(cls, args, x_train, n_classes, comm=None):
        """A new run as the options describe it."""
        seed = args.seed if args.seed is not None else draw_seed(comm)
        network = build_model(args, input_shape_for(args, x_train), n_classes,
                              rng=np.random.default_rng(seed))
        optimizer, optimizer_param = optimizer_settings(args)
        epochs, iters = args.epochs, args.iters
        if epochs is None and iters is None:
            iters = SEED_ITERS
        augment = (make_augment({"shift": args.shift, "rotation": args.rotation,
                                 "flip": args.flip}) if args.augment else None)
        return cls(network, optimizer, optimizer_param, seed,
                   args.batch_size or DEFAULT_BATCH_SIZE, epochs,
                   iters, "constant" if args.lr_schedule == "plateau" else args.lr_schedule,
                   callback_spec(args), args.validation_split, augment, args.clip_grad)

    @classmethod
    def from_checkpoint(cls, resumed, args, x_train, dataset):
        """The run saved in `resumed`, to the length --epochs/--iters may set anew."""
        training = resumed.training
        network = resumed.model
        optimizer = resumed.make_optimizer()
        if optimizer is None:
            raise ValueError(f"{args.resume} holds no optimizer state to resume with")
        lr_schedule = training.get("lr_schedule", "constant")
        if lr_schedule == "custom":
            raise ValueError(f"{args.resume} was trained with a learning-rate schedule "
                             f"of its own (a Python function); continue it in Python")
        size = int(np.prod(network.input_shape))
        if size != int(np.prod(x_train.shape[1:])):
            raise ValueError(f"{args.resume} was trained on inputs of size {size}, the "
                             f"{dataset} data has {int(np.prod(x_train.shape[1:]))}")
        spec = (training.get("run") or {}).get("callbacks") or {}
        return cls(network, optimizer, optimizer.hyperparameters(), training["seed"],
                   training["batch_size"], None, new_length(args, resumed), lr_schedule,
                   spec, float(training.get("validation_split", 0.0)),
                   make_augment(training.get("augment")), training.get("clip_grad"))


# -- the run ------------------------------------------------------------------------------
class TrainingRun:
    """One run of `chainrule train`; comm is the MPI communicator with --distributed.

    Ranks other than 0 run quietly, without plot, metrics file or web page."""

    def __init__(self, args, comm=None, resumed=None):
        self.args = args
        self.comm = comm
        root = comm is None or comm.Get_rank() == 0
        self.quiet = args.quiet or not root
        self.save = args.save or args.resume  # keep saving where the run was saved before
        self.metrics = args.metrics if root else None
        self.plot = args.plot if root else None
        self.serve = args.serve and root
        self.server = None
        self._check_request()
        # A bad --threads or CHAINRULE_THREADS is reported before the data loads.
        self.threads = resolve_threads(args.threads)
        if args.resume:
            self.resumed = self._accept_resumed(resumed or load_model_file(
                args.resume, refuse_broken=False))
        else:
            self.resumed = None
        (self.x_train, self.t_train), (self.x_test, self.t_test) = self._load_data()
        self.plan = self._plan()
        self.trainer = self._make_trainer()

    def _check_request(self):
        """CommandError for a request that cannot work, before any data is loaded."""
        args = self.args
        if args.data and args.dataset != "auto":
            raise CommandError("give --data PATH or --dataset NAME, not both")
        problem = outputs_problem(args, self.save)
        if problem is None and not args.resume:
            problem = (model_options_problem(args) or self._monitor_problem()
                       or self._shift_problem())
        if problem:
            raise CommandError(problem)
        if self.serve:
            check_listen(args.host, args.port)
        if self.plot and importlib.util.find_spec("matplotlib") is None:
            raise CommandError("--plot needs matplotlib: pip install 'chainrule[plot]' "
                               "(checked before training, so that no run is lost to it)")

    def _monitor_problem(self):
        args = self.args
        watched = args.early_stopping or args.best_checkpoint or args.lr_schedule == "plateau"
        monitor = monitor_of(args)
        if watched and monitor.startswith("val_") and not args.validation_split:
            return (f"--monitor {monitor} needs a validation split: give "
                    f"--validation-split F")
        if watched and monitor == "test_acc" and args.validation_split:
            return ("--monitor test_acc: with a validation split the test set is measured "
                    "once, at the end, so nothing can watch it; monitor val_loss or val_acc")
        return None

    def _shift_problem(self):
        """--shift as large as the pictures, where their size is known before they
        load (a named data set's 28x28, --image-size); other data is checked once
        loaded, before training (Augment.check)."""
        args = self.args
        if not args.augment:
            return None
        if args.data:
            size = args.image_size
        else:
            size = None if args.dataset in TEXT_DATASETS else (28, 28)
        if size and args.shift >= min(size):
            return (f"--shift {args.shift} moves a {size[0]}x{size[1]} picture out of its "
                    f"frame: give a shift less than its height and width (at most "
                    f"{min(size) - 1})")
        return None

    def _augment_problem(self):
        """--augment on data that are not pictures, known once loaded: an .npz of flat
        features (a CSV is refused before loading, by its name)."""
        record = self.inputs
        if record.get("kind") == "table" or (
                record.get("kind") == "arrays" and len(record.get("shape") or ()) != 3):
            shape = tuple(record.get("shape") or (len(record.get("columns") or ()),))
            return (f"--augment shifts pictures, and the samples of {self.dataset} are "
                    f"features of shape {shape}, not (channels, height, width) images; "
                    f"save x as (N, C, H, W) to augment it, or leave --augment out")
        return None

    def _accept_resumed(self, resumed):
        """The checkpoint to continue, if it holds a run; notes the options ignored."""
        if not resumed.training:
            raise CommandError(f"{self.args.resume} holds a model but no training state "
                               f"to resume")
        ignored = ignored_with_resume(self.args)
        if ignored:
            note(f"resuming continues the saved run as it was set up; ignoring "
                 f"{' '.join(ignored)}")
        return resumed

    def _data_source(self):
        """(own data path or None, the resumed model's inputs record or None, data set
        name): with --resume, what the saved run was trained on unless said otherwise."""
        args, record, dataset = self.args, None, self.args.dataset
        if self.resumed is not None:
            record = inputs_of(self.resumed, args.resume)
            if dataset == "auto" and record is not None and record.get("dataset"):
                dataset = record["dataset"]
        path = args.data or (record.get("source") if record else None)
        return path, record, dataset

    def _read(self):
        """((data, the model's inputs record as JSON text), name): what rank 0 loads
        (the distributed loader shares arrays, text and numbers)."""
        from ..datasets.inputs import named_inputs
        path, record, dataset = self._data_source()
        if path:
            if record is not None:  # resumed: read as the model's data was read
                data, inputs = load_like(record, path), record
            else:
                data, inputs = load_own_data(path, self.args, self.quiet)
            return (data, json.dumps(inputs)), os.path.basename(os.path.normpath(path))
        data, name = load_data(dataset, self.args.data_dir, self.quiet)
        return (data, json.dumps(record or named_inputs(name))), name

    def _load_data(self):
        try:
            if self.comm is None:
                (data, inputs), self.dataset = self._read()
            else:  # rank 0 loads, every rank shares its arrays
                from ..distributed import load_on_root
                (data, inputs), self.dataset = load_on_root(self._read, self.comm)
        except DatasetError as exc:
            raise CommandError(dataset_message(exc)) from None
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.inputs = json.loads(inputs)
        (x_train, t_train), (x_test, t_test) = data
        if self.resumed is not None:
            flat = len(self.resumed.model.input_shape) == 1
        else:
            flat = not self.args.layers and self.args.model in ("two-layer", "mlp", None)
        if flat and x_train.ndim > 2:
            # Fully connected networks take rows: images become rows of pixels.
            x_train = x_train.reshape(len(x_train), -1)
            x_test = x_test.reshape(len(x_test), -1)
        return (x_train, t_train), (x_test, t_test)

    def _plan(self):
        try:
            if self.resumed is not None:
                return Plan.from_checkpoint(self.resumed, self.args, self.x_train,
                                            self.dataset)
            problem = self.args.augment and self._augment_problem()
            if problem:
                raise CommandError(problem)
            own = self.inputs.get("dataset") is None
            n_classes = (len(self.inputs["class_names"]) if own
                         else int(self.t_train.max()) + 1)
            return Plan.from_args(self.args, self.x_train, n_classes, self.comm)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        except MemoryError as exc:
            raise CommandError(f"not enough memory to build this network ({exc}); "
                               f"choose smaller sizes") from None

    def _callbacks(self):
        """The options' callbacks first (their saved state is keyed by position), then
        the metrics file and the checkpoint (every epoch with a file to save to; else
        only on Ctrl-C)."""
        callbacks = make_callbacks(self.plan.callback_spec)
        if self.metrics:
            callbacks.append(MetricsFile(self.metrics))
        callbacks.append(EpochCheckpoint(interrupt_path(self.save),
                                         every_epoch=bool(self.save)))
        return callbacks

    def _trainer_class(self):
        """The trainer class, and what it takes besides Trainer's arguments."""
        if self.comm is not None:
            # One process per core already: each gets one BLAS thread and no helpers.
            from ..distributed import DistributedTrainer
            threads.apply_policy(1)
            return DistributedTrainer, {"comm": self.comm}
        thread_plan = threads.apply_policy(self.threads, self.plan.network,
                                           self.plan.batch_size)
        return Trainer, {"eval_in_background": thread_plan.eval_in_background}

    def _make_trainer(self):
        plan = self.plan
        trainer_class, extra = self._trainer_class()
        try:
            trainer = trainer_class(
                plan.network, self.x_train, self.t_train, self.x_test, self.t_test,
                epochs=plan.epochs or 1, mini_batch_size=plan.batch_size,
                optimizer=plan.optimizer, optimizer_param=plan.optimizer_param,
                verbose=not self.quiet, iters=plan.iters, seed=plan.seed,
                eval_batch_size=1000, lr_schedule=plan.lr_schedule,
                validation_split=plan.validation_split, augment=plan.augment,
                clip_grad=plan.clip_grad, callbacks=self._callbacks(), **extra)
            if self.resumed is not None:
                trainer.load_state(self.resumed)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        # The one record of how the model's inputs are made from data, saved with it
        # (a model resumed from 0.2.0 gets it from what its run recorded).
        plan.network.inputs = self.inputs
        return self._finished(trainer)

    def _finished(self, trainer):
        """The trainer, told what to record of the run; a resumed run's new length said."""
        trainer.run_info = self._run_info()
        if self.resumed is not None and not self.quiet:
            old_total = self.resumed.training["max_iter"]
            if trainer.max_iter != old_total:
                note(length_note(trainer, old_total))
        return trainer

    def _run_info(self):
        """What the checkpoint records of the run for the command line."""
        info = {"dataset": self.dataset}
        if self.plan.callback_spec:
            info["callbacks"] = self.plan.callback_spec
        return info

    # -- executing ----------------------------------------------------------------------
    def execute(self):
        """Train, then report; the exit status (130 after Ctrl-C, 3 diverged)."""
        if self.serve:
            self._start_server()
        if self.metrics and self.resumed is None and os.path.exists(self.metrics):
            os.remove(self.metrics)  # a fresh run starts a fresh log; a resumed one appends
        if not self.quiet:
            print(self._announcement(), file=sys.stderr)
        status = self._train()
        if status:
            return status
        self._report()
        status = self._plot()
        if status:
            return status
        if self.server is not None:
            self._keep_serving()
        return 0

    def _start_server(self):
        from ..web import LiveMetrics, start_server_in_thread
        network, args = self.plan.network, self.args
        live = LiveMetrics(model=network, info={"model": repr(network),
                                                "dataset": self.dataset})
        try:
            self.server = start_server_in_thread(live, args.host, args.port)
        except OSError as exc:
            raise CommandError(listen_error(args.host, args.port, exc)) from None
        print(f"live training curves at {self.server.url}train", file=sys.stderr)
        self.trainer.callbacks.append(live)

    def _announcement(self):
        trainer, plan = self.trainer, self.plan
        if self.resumed is not None:
            optimizer = trainer.optimizer
            return (f"resuming {self.args.resume} at iteration {trainer.current_iter} of "
                    f"{trainer.max_iter}: {type(optimizer).__name__} "
                    f"{optimizer.hyperparameters()}, batch {trainer.batch_size}, "
                    f"seed {trainer.seed}, {self.dataset}")
        schedule = "" if trainer.lr_schedule == "constant" else f", {trainer.lr_schedule} lr"
        return (f"{plan.network!r}: {plan.optimizer} {plan.optimizer_param}{schedule}, "
                f"batch {trainer.batch_size}, "
                f"{trainer.max_iter} iterations ({trainer.iter_per_epoch} per epoch), "
                f"seed {plan.seed}, {self.dataset}")

    def _train(self):
        """Train; None when done, else the exit status (after saying why)."""
        trainer = self.trainer
        try:
            # The trainer detects divergence itself and says so; NumPy's overflow
            # warnings on the way there would only come first and say less.
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                trainer.train()
        except TrainingInterrupted as exc:
            advice = f" ({resume_advice(exc.checkpoint)})" if exc.checkpoint else ""
            print(f"chainrule: {exc}{advice}", file=sys.stderr)
            return 130
        except TrainingDiverged as exc:
            error(str(exc))
            return 3
        except OSError as exc:  # a checkpoint or the metrics could not be written after all
            error(rescue_state(trainer, exc, self.save))
            return 130 if trainer.stop_requested else 1
        return None

    def _report(self):
        trainer = self.trainer
        # The figures of the weights the run ends on (and saved): after early stopping
        # restored a best epoch's weights, that epoch's.
        final = trainer.final_metrics
        if trainer.test_result is not None:
            # With a validation split the test set was measured once, at the end.
            print(f"final: train_acc {final['train_acc']:.4f}  val_acc {final['val_acc']:.4f}  "
                  f"test_acc {trainer.test_result['test_acc']:.4f}  ({trainer.elapsed:.1f}s)")
        else:
            print(f"final: train_acc {final['train_acc']:.4f}  test_acc "
                  f"{final['test_acc']:.4f}  ({trainer.elapsed:.1f}s)")
        # The trainer saved the checkpoint after the last step and wrote the metrics.
        if not self.quiet:
            if self.save:
                print(f"saved the model and training state to {self.save}", file=sys.stderr)
            if self.metrics:
                print(f"wrote metrics to {self.metrics}", file=sys.stderr)

    def _plot(self):
        if not self.plot:
            return 0
        from ..plot import plot_curves
        try:
            plot_curves(self.trainer, self.plot)
        except OSError as exc:
            error(f"could not write the plot {self.plot} ({exc.strerror or exc}); the "
                  f"training itself is finished"
                  f"{' and saved in ' + self.save if self.save else ''}")
            return 1
        if not self.quiet:
            print(f"plotted the training curves to {self.plot}", file=sys.stderr)
        return 0

    def _keep_serving(self):
        print(f"training finished; the page stays at {self.server.url}train until Ctrl-C",
              file=sys.stderr)
        try:
            self.server.thread.join()
        except KeyboardInterrupt:
            pass
        finally:
            self.server.shutdown()
