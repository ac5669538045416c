"""Augmentation, a validation split, a schedule and early stopping: what they reach.

    python benchmarks/bench_augment.py --model deep --dataset fashion-mnist \\
        --epochs 30 --augment --hidden 100 --dropout 0.1 --validation-split 0.1 \\
        --lr-schedule cosine --early-stopping 5 --threads 1 --save
                                                   # the figure in docs/own-data.md
    python benchmarks/bench_augment.py --model simple --dataset mnist-10k --epochs 10 \\
        [--augment] --save                         # the effect of augmentation, small

Trains the book's SimpleConvNet or DeepConvNet (float32, Adam lr 0.001, batch 100, seed
0; the book's sizes unless --hidden or --dropout say otherwise) with chainrule's Trainer
and its callbacks, exactly as `chainrule train` would: the validation part (stratified,
from the seed) is what the run watches, schedules on and stops on; the test set is
measured once, at the end, on the weights the run ends with (the best epoch's, with
early stopping). Writes benchmarks/results/augment_<model>_<dataset>_<settings>.json
with every epoch's figures, the final test accuracy, the command, the CPU model and the
versions. This measures accuracy, not speed (no PyTorch counterpart needed); the
seconds are recorded for planning only.
"""

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

import chainrule
from chainrule.augmentation import Augment
from chainrule.callbacks import (EarlyStopping, EpochCheckpoint, EpochLog, ProgressBar,
                                 ReduceLROnPlateau)
from chainrule.files import atomic_file
from chainrule.models import DeepConvNet, SimpleConvNet

from benchlib import cpu_model, load_images

RESULTS = Path(__file__).resolve().parent / "results"


def load_data(name):
    """The data set as (N, 1, 28, 28) float32 images and int64 labels."""
    (x_train, t_train), (x_test, t_test) = load_images(name)
    shape = (-1, 1, 28, 28)
    return (x_train.reshape(shape), t_train), (x_test.reshape(shape), t_test)


def result_name(args):
    """The record's file name: every setting that differs from the defaults is in it, so
    that no run overwrites another's record."""
    tag = "_".join(filter(None, [
        "aug" if args.augment else "noaug",
        f"shift{args.shift}" if args.augment and args.shift != 2 else None,
        f"rotation{args.rotation:g}" if args.augment and args.rotation else None,
        "flip" if args.augment and args.flip else None,
        f"hidden{args.hidden}" if args.hidden is not None else None,
        f"dropout{args.dropout:g}" if args.dropout is not None else None,
        f"val{args.validation_split:g}" if args.validation_split else None,
        args.lr_schedule,
        f"es{args.early_stopping}" if args.early_stopping else None,
        f"{args.epochs}epochs",
        f"train{args.train_size}" if args.train_size else None,
        f"seed{args.seed}" if args.seed else None]))
    return f"augment_{args.model}_{args.dataset}_{tag}.json"


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=["simple", "deep"], default="simple")
    parser.add_argument("--dataset", default="mnist-10k")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--augment", action="store_true",
                        help="random shifts (--shift) and rotations (--rotation), mirror "
                             "images with --flip")
    parser.add_argument("--shift", type=int, default=2)
    parser.add_argument("--rotation", type=float, default=0.0)
    parser.add_argument("--flip", action="store_true")
    parser.add_argument("--validation-split", type=float, default=0.0)
    parser.add_argument("--lr-schedule", default="constant",
                        choices=list(chainrule.optimizers.LR_SCHEDULES) + ["plateau"])
    parser.add_argument("--early-stopping", type=int, default=0, metavar="PATIENCE",
                        help="stop when val_acc has not improved for PATIENCE epochs and "
                             "restore the best epoch's weights")
    parser.add_argument("--hidden", type=int, default=None,
                        help="DeepConvNet's hidden_size or SimpleConvNet's hidden units "
                             "(default: the book's, 50 and 100)")
    parser.add_argument("--dropout", type=float, default=None,
                        help="DeepConvNet's dropout_ratio (default: the book's, 0.5)")
    parser.add_argument("--train-size", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint", default=None,
                        help="save the run here every epoch (resume after a crash)")
    parser.add_argument("--save", action="store_true",
                        help="write the record, augment_*.json, to --results")
    parser.add_argument("--results", default=str(RESULTS),
                        help="folder for --save (default: benchmarks/results)")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.dropout is not None and args.model != "deep":
        parser.error("--dropout: SimpleConvNet has no dropout")

    from threadpoolctl import threadpool_limits
    (x_train, t_train), (x_test, t_test) = load_data(args.dataset)
    if args.train_size:
        x_train, t_train = x_train[:args.train_size], t_train[:args.train_size]
    cls = {"simple": SimpleConvNet, "deep": DeepConvNet}[args.model]
    sizes = {}
    if args.hidden is not None:
        sizes["hidden_size"] = args.hidden
    if args.dropout is not None:
        sizes["dropout_ratio"] = args.dropout
    net = cls(dtype=np.float32, rng=args.seed, **sizes)
    augment = (Augment(shift=args.shift, rotation=args.rotation, flip=args.flip)
               if args.augment else None)
    callbacks = []
    schedule = args.lr_schedule
    if schedule == "plateau":
        callbacks.append(ReduceLROnPlateau(monitor="val_loss", factor=0.3, patience=2))
        schedule = "constant"
    if args.early_stopping:
        callbacks.append(EarlyStopping(monitor="val_acc", patience=args.early_stopping,
                                       restore_best_weights=True))
    trainer = chainrule.Trainer(
        net, x_train, t_train, x_test, t_test, epochs=args.epochs, mini_batch_size=100,
        optimizer="adam", optimizer_param={"lr": 0.001}, seed=args.seed,
        lr_schedule=schedule, validation_split=args.validation_split, augment=augment,
        callbacks=callbacks + [ProgressBar(show=False),
                               EpochLog(log=lambda line: print(line, flush=True))]
        + ([EpochCheckpoint(args.checkpoint)] if args.checkpoint else []),
        # The training accuracy is only a guide here: 5,000 samples say enough.
        evaluate_sample_num_per_epoch=5000)
    print(f"{cls.__name__} on {args.dataset}: {len(trainer.x_train)} to train, "
          f"{0 if trainer.x_val is None else len(trainer.x_val)} to validate, "
          f"{len(x_test)} to test; augmentation {augment}; schedule {args.lr_schedule}; "
          f"callbacks {callbacks}; {args.threads} thread(s)", flush=True)
    started = time.perf_counter()
    with threadpool_limits(limits=args.threads):
        if args.checkpoint and Path(args.checkpoint).exists():
            trainer.load_state(args.checkpoint)
            print(f"resumed from {args.checkpoint} at iteration {trainer.current_iter}",
                  flush=True)
        trainer.train()
        if trainer.test_result is None:
            test_acc = trainer.network.accuracy(x_test, t_test, batch_size=1000)
        else:
            test_acc = trainer.test_result["test_acc"]
    seconds = time.perf_counter() - started
    print(f"test accuracy {test_acc:.4f} ({seconds:.0f} s)", flush=True)

    result = {
        "model": cls.__name__, "network": net.config, "dataset": args.dataset,
        "train_size": len(trainer.x_train),
        "validation_size": 0 if trainer.x_val is None else len(trainer.x_val),
        "test_size": len(x_test), "optimizer": "Adam(lr=0.001)", "batch": 100,
        "augment": augment.config() if augment else None,
        "lr_schedule": args.lr_schedule,
        "callbacks": [repr(c) for c in callbacks],
        "epochs_asked": args.epochs,
        "epochs_run": trainer.history[-1]["epoch"],
        "stop_reason": trainer.stop_reason,
        "best_epoch": next((c.best_epoch for c in callbacks
                            if isinstance(c, EarlyStopping)), None),
        "test_acc": test_acc, "seconds": round(seconds, 1), "seed": args.seed,
        "threads": args.threads,
        "command": "python benchmarks/bench_augment.py " + " ".join(
            sys.argv[1:] if argv is None else argv),
        "environment": {"python": platform.python_version(), "numpy": np.__version__,
                        "chainrule": chainrule.__version__, "cpu": cpu_model()},
        "history": trainer.history,
    }
    if args.save:
        Path(args.results).mkdir(parents=True, exist_ok=True)
        path = Path(args.results) / result_name(args)
        with atomic_file(path) as f:
            f.write(json.dumps(result, indent=2).encode("utf-8"))
        print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
