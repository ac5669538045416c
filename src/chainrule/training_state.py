"""The training state a checkpoint keeps, and its checks.

What a run must remember to continue exactly after Ctrl-C: where it is, how it was set
up, the random generators of layers that draw while training (dropout), and the
callbacks' own state. checkpoint.py checks it when a file is read and trainer.py writes
and restores it; both import this module, and neither imports the other's internals.
"""

import copy
import math

import numpy as np

from .optimizers import lr_schedule as _lr_schedule

__all__ = ["check_training_state", "layer_rng_states", "generators_from_states",
           "check_model_fits", "check_run_fits", "callback_states_to_load"]


# -- random generators of layers (dropout masks) ----------------------------------------
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def layer_rng_states(network):
    """{"states": [state, ...], "layers": {layer name: index into states}}, or None.

    Layers that share one generator (a network passes its own to every dropout layer)
    share one entry, so that after a restore they share one generator again.
    """
    states, index, layers = [], {}, {}
    for name, layer in getattr(network, "layers", {}).items():
        rng = getattr(layer, "rng", None)
        if isinstance(rng, np.random.Generator):
            kind, state = "Generator", rng.bit_generator.state
        elif isinstance(rng, np.random.RandomState):
            kind, state = "RandomState", rng.get_state(legacy=False)
        else:
            continue
        if id(rng) not in index:
            index[id(rng)] = len(states)
            states.append({"kind": kind, "state": _jsonable(state)})
        layers[name] = index[id(rng)]
    return {"states": states, "layers": layers} if layers else None


def _generator_from_state(saved):
    """A new generator in the saved state. The global generator is never touched: a
    layer that drew from it before the checkpoint gets a private copy of its stream."""
    state = saved["state"]
    name = state["bit_generator"]
    if name not in _BIT_GENERATORS:
        raise ValueError(f"unknown bit generator {name!r}")
    if saved["kind"] == "Generator":
        bit_generator = getattr(np.random, name)()
        bit_generator.state = state
        return np.random.Generator(bit_generator)
    if saved["kind"] == "RandomState" and name == "MT19937":
        rng = np.random.RandomState()
        rng.set_state(state)
        return rng
    raise ValueError(f"unknown kind of generator {saved['kind']!r}")


def generators_from_states(rngs, network=None):
    """layer name -> generator for the saved states (checked); {} for None."""
    if rngs is None:
        return {}
    try:
        generators = [_generator_from_state(s) for s in rngs["states"]]
        result = {}
        for layer_name, i in rngs["layers"].items():
            if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < len(generators):
                raise ValueError(f"bad generator index {i!r}")
            result[layer_name] = generators[i]
    except (KeyError, TypeError, ValueError, OverflowError, AttributeError) as exc:
        raise ValueError(f"the saved random generator states are damaged ({exc})") from None
    if network is not None:
        missing = sorted(set(result) - set(network.layers))
        if missing:
            raise ValueError(f"the saved random generators are for layers "
                             f"{', '.join(missing)}, which this network does not have")
    return result


def _is_int(value, minimum=0):
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _is_number(value):
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def check_training_state(training):
    """Raise ValueError unless `training` has the shape Trainer.state() gives it.

    A checkpoint is read from a file that may be damaged: checking everything here
    means that resuming fails with one clear message instead of somewhere later.
    """
    if not isinstance(training, dict):
        raise ValueError("the training state is not an object")
    for key, minimum in (("seed", 0), ("iteration", 0), ("epoch", 0), ("max_iter", 1),
                         ("batch_size", 1), ("train_size", 1)):
        if not _is_int(training.get(key), minimum):
            raise ValueError(f"the training state's {key} must be an integer >= {minimum}, "
                             f"got {training.get(key)!r}")
    if training["iteration"] > training["max_iter"]:
        raise ValueError(f"the training state is at iteration {training['iteration']}, "
                         f"past its end ({training['max_iter']})")
    if not _is_number(training.get("elapsed")) or training["elapsed"] < 0:
        raise ValueError("the training state's elapsed time is not a number >= 0")
    losses = training.get("train_loss_list")
    if (not isinstance(losses, list) or len(losses) != training["iteration"]
            or not all(_is_number(v) for v in losses)):
        raise ValueError("the training state's losses are not one number per iteration")
    history = training.get("history")
    if not isinstance(history, list):
        raise ValueError("the training state's history is missing")
    for entry in history:
        language_model = isinstance(entry, dict) and "val_perplexity" in entry
        if (not isinstance(entry, dict) or not _is_int(entry.get("iteration"))
                or entry["iteration"] > training["iteration"]
                or not (language_model or _is_number(entry.get("train_acc")))
                or not (_is_number(entry.get("test_acc")) or _is_number(entry.get("val_acc"))
                        or (language_model and _is_number(entry.get("val_loss"))))):
            raise ValueError("the training state's history has a malformed entry")
    weights_epoch = training.get("weights_epoch")
    if weights_epoch is not None and not any(
            entry.get("epoch") == weights_epoch for entry in history):
        raise ValueError(f"the training state's weights are of epoch {weights_epoch!r}, "
                         f"which its history does not hold")
    if training.get("run") is not None and not isinstance(training["run"], dict):
        raise ValueError("the training state's run information is not an object")
    schedule = training.get("lr_schedule", "constant")
    if schedule != "custom":
        try:
            _lr_schedule(schedule)
        except ValueError as exc:
            raise ValueError(f"the training state's {exc}") from None
    if "base_lr" in training and not (_is_number(training["base_lr"])
                                      and training["base_lr"] > 0):
        raise ValueError("the training state's base learning rate is not a positive number")
    generators_from_states(training.get("rngs"))
    callbacks = training.get("callbacks")
    if callbacks is not None and (not isinstance(callbacks, dict) or not all(
            isinstance(k, str) and isinstance(v, dict) for k, v in callbacks.items())):
        raise ValueError("the training state's callbacks are not an object of objects")
    if "initial_base_lr" in training and not (_is_number(training["initial_base_lr"])
                                              and training["initial_base_lr"] > 0):
        raise ValueError("the training state's initial learning rate is not a positive number")
    augment = training.get("augment")
    if augment is not None:
        if (not isinstance(augment, dict) or set(augment) - {"shift", "rotation", "flip"}
                or not _is_int(augment.get("shift", 0))
                or not (_is_number(augment.get("rotation", 0.0))
                        and 0 <= augment.get("rotation", 0.0) <= 45)
                or not isinstance(augment.get("flip", False), bool)):
            raise ValueError("the training state's augmentation settings are damaged")
    split = training.get("validation_split", 0.0)
    if not (_is_number(split) and 0.0 <= split < 1.0):
        raise ValueError("the training state's validation split is not a number in [0, 1)")


# -- whether a checked state fits the trainer that would continue it ------------------
def check_model_fits(saved, ours):
    """ValueError unless the saved network is of our network's class with parameters
    and buffers of the same names, shapes and dtypes."""
    if type(saved) is not type(ours):
        raise ValueError(f"the checkpoint holds a {type(saved).__name__}, "
                         f"this trainer trains a {type(ours).__name__}")
    for kind in ("params", "buffers"):
        theirs, mine = getattr(saved, kind, {}), getattr(ours, kind, {})
        if set(theirs) != set(mine):
            raise ValueError(f"the checkpoint's {kind} {sorted(theirs)} differ from "
                             f"the network's {sorted(mine)}")
        for key, value in theirs.items():
            if value.shape != mine[key].shape or value.dtype != mine[key].dtype:
                raise ValueError(f"{key} is {value.dtype}{list(value.shape)} in the "
                                 f"checkpoint, {mine[key].dtype}{list(mine[key].shape)} "
                                 f"in the network")


def check_run_fits(training, optimizer_class, trainer):
    """ValueError unless the saved run (its state, and the class name of its optimizer)
    was set up as `trainer` is: the same optimizer class, batch size, number of
    training samples, schedule and validation split, and not past its end."""
    ours = type(trainer.optimizer).__name__
    if optimizer_class != ours:
        raise ValueError(f"the checkpoint was trained with {optimizer_class}, this trainer "
                         f"uses {ours}: its state would not fit")
    for name, value in (("batch_size", trainer.batch_size),
                        ("train_size", len(trainer.x_train))):
        if training[name] != value:
            raise ValueError(f"the checkpoint's run had {name} {training[name]}, this "
                             f"trainer has {value}; the sample order would differ")
    schedule = training.get("lr_schedule", "constant")
    if "custom" not in (schedule, trainer.lr_schedule) and schedule != trainer.lr_schedule:
        raise ValueError(f"the checkpoint's run used the {schedule} learning-rate "
                         f"schedule, this trainer the {trainer.lr_schedule} one")
    saved_split = float(training.get("validation_split", 0.0))
    if saved_split != trainer.validation_split:
        raise ValueError(f"the checkpoint's run held out a validation split of "
                         f"{saved_split:g}, this trainer {trainer.validation_split:g}")
    if training["iteration"] > trainer.max_iter:
        raise ValueError(f"the checkpoint is at iteration {training['iteration']}, past "
                         f"this trainer's {trainer.max_iter}")


def callback_states_to_load(training, arrays, callbacks):
    """{key: state} for the callbacks (key -> callback that keeps state) from the
    saved states and arrays ("key/name"), each tried on a shallow copy of its callback
    so that a damaged one is refused before any callback changes."""
    states = training.get("callbacks") or {}
    if not isinstance(states, dict):
        raise ValueError("the training state's callbacks are not an object")
    for key in states:
        if key not in callbacks:
            raise ValueError(f"the checkpoint holds the state of a callback {key} "
                             f"that this trainer does not have (its callbacks: "
                             f"{', '.join(callbacks) or 'none'})")
    result = {}
    for key, state in states.items():
        state = dict(state)
        prefix = key + "/"
        mine = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
        if mine:
            state["arrays"] = mine
        try:
            copy.copy(callbacks[key]).load_state_dict(state)
        except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as exc:
            raise ValueError(f"the saved state of callback {key} is damaged ({exc})") from None
        result[key] = state
    return result
