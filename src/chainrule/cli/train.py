"""`chainrule train`: its options, and the command itself (a TrainingRun, on every
MPI process with --distributed)."""

from ..optimizers import LR_SCHEDULES
from .options import (RUN_OPTIONS, add_data_options, add_model_options,
                      add_own_data_options, fraction, non_negative_float,
                      non_negative_int, port_number, positive_float, positive_int,
                      rotation_degrees, shrink_factor, threads_option)


def cmd_train(args):
    # Imported here, not at the top: the trainer, the callbacks and the data sets are
    # not needed to print --help.
    from .language import make_run
    if args.distributed:
        from ..distributed import run_on_all_ranks
        return run_on_all_ranks(lambda comm: make_run(args, comm).execute())
    return make_run(args).execute()


def register(sub):
    """Add `train` to an argparse subparsers object."""
    p = sub.add_parser("train", help="train a network (with no options: the seed's experiment)",
                       description="Train a network. With no options this is the seed's "
                                   "experiment: TwoLayerNet 784-50-10, SGD, lr 0.1, batch 100, "
                                   "10,000 iterations, accuracy after every epoch.")
    add_model_options(p)
    add_data_options(p)
    add_own_data_options(p)
    _add_optimizer_options(p)
    _add_validation_options(p)
    _add_length_options(p)
    _add_language_options(p)
    _add_output_options(p)
    p.set_defaults(func=cmd_train,
                   parser_defaults={dest: p.get_default(dest) for dest in RUN_OPTIONS})



def _add_optimizer_options(p):
    """The update rule and its learning-rate schedule."""
    p.add_argument("--optimizer", choices=["sgd", "momentum", "nesterov", "adagrad",
                                           "rmsprop", "adam", "adamw"], default=None,
                   type=str.lower,
                   help="update rule (default: sgd; adam for char-rnn, adamw for gpt)")
    p.add_argument("--lr", type=positive_float, help="learning rate (default: 0.1 for sgd, 0.01 for "
                                            "momentum/nesterov/adagrad, 0.001 for rmsprop/adam/"
                                            "adamw; 0.002 for char-rnn)")
    p.add_argument("--momentum", type=fraction, default=0.9,
                   help="momentum and nesterov: how much of the last step is kept "
                        "(default: %(default)s)")
    p.add_argument("--beta1", type=fraction, default=0.9,
                   help="adam: decay of the mean of the gradients (default: %(default)s)")
    p.add_argument("--beta2", type=fraction, default=None,
                   help="adam: decay of the mean of the squared gradients "
                        "(default: 0.999; 0.99 for gpt)")
    p.add_argument("--decay-rate", type=fraction, default=0.99,
                   help="rmsprop: decay of the mean of the squared gradients "
                        "(default: %(default)s)")
    p.add_argument("--lr-schedule", choices=list(LR_SCHEDULES) + ["plateau"],
                   default="constant", type=str.lower,
                   help="constant: the same rate throughout; cosine: from --lr down to 0 "
                        "along half a cosine over the run; plateau: times --plateau-factor "
                        "whenever --monitor has not improved for --plateau-patience epochs "
                        "(default: %(default)s)")
    p.add_argument("--clip-grad", type=positive_float, metavar="NORM",
                   help="scale each step's gradients down to this global norm when they "
                        "exceed it (default: off; 5 for char-rnn, 1 for gpt)")
    p.add_argument("--plateau-factor", type=shrink_factor, default=0.1, metavar="F",
                   help="plateau schedule: the factor (default: %(default)s)")
    p.add_argument("--plateau-patience", type=positive_int, default=3, metavar="N",
                   help="plateau schedule: epochs without improvement before the rate is "
                        "cut (default: %(default)s)")


def _add_validation_options(p):
    """Validation, stopping and augmentation."""
    v = p.add_argument_group("validation and stopping")
    v.add_argument("--validation-split", type=fraction, default=0.0, metavar="F",
                   help="hold out this stratified fraction of the training data (seeded "
                        "by --seed) to watch, schedule and stop on; the test set is then "
                        "measured once, at the end (default: 0, the test set every epoch, "
                        "as the book does)")
    v.add_argument("--monitor", choices=["val_loss", "val_acc", "loss", "train_acc",
                                         "test_acc"],
                   help="what --early-stopping, --best-checkpoint and the plateau schedule "
                        "watch (default: val_loss with a validation split, else loss)")
    v.add_argument("--early-stopping", type=positive_int, metavar="PATIENCE",
                   help="stop when --monitor has not improved for PATIENCE epochs, and "
                        "end on the weights of the best epoch")
    v.add_argument("--min-delta", type=non_negative_float, default=0.0, metavar="D",
                   help="early stopping: the least change that counts as an improvement "
                        "(default: 0)")
    v.add_argument("--best-checkpoint", metavar="FILE",
                   help="save the run to FILE each time --monitor improves")
    a = p.add_argument_group("augmentation (images; off by default)")
    a.add_argument("--augment", action="store_true",
                   help="shift (and rotate, mirror if asked) every training batch at random, "
                        "seeded by --seed")
    a.add_argument("--shift", type=non_negative_int, default=2, metavar="PIXELS",
                   help="the largest shift, less than the images' height and width "
                        "(default: %(default)s)")
    a.add_argument("--rotation", type=rotation_degrees, default=0.0, metavar="DEGREES",
                   help="the largest rotation, up to 45 (default: %(default)s)")
    a.add_argument("--flip", action="store_true", help="mirror half the images left-right")


def _add_length_options(p):
    """Batch, length, number type and threads."""
    p.add_argument("--batch-size", type=positive_int, default=None,
                   help="samples per mini-batch step (default: 100; language models: "
                        "streams or windows of text, 32 for char-rnn, 12 for gpt)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=positive_int,
                        help="train for this many passes over the training data (with "
                             "--resume: continue the run to this many in all)")
    length.add_argument("--iters", type=positive_int,
                        help="train for this many mini-batch steps (default: 10000, the "
                             "seed's; with --resume: the new total)")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                   help="floating-point type of weights and data (default: %(default)s; "
                        "float64 is the book's and about twice as slow)")
    p.add_argument("--threads", type=threads_option, default="auto", metavar="N|auto",
                   help="BLAS threads: a number (at most the cores this process may use), "
                        "or auto (see docs/threads.md); the environment variable "
                        "CHAINRULE_THREADS sets the same")


def _add_language_options(p):
    """Language models: how the text is read and measured."""
    g = p.add_argument_group("language models (--dataset shakespeare, --data FILE.txt, "
                             "--model char-rnn or gpt, or --layers beginning with embed)")
    g.add_argument("--tokens", choices=["chars", "words"], default=None,
                   help="characters, or words as the sequel reads the Penn Treebank "
                        "(lower-cased, <eos> at line ends) (default: chars)")
    g.add_argument("--vocab-size", type=positive_int, metavar="N",
                   help="keep the N-1 most frequent tokens and read the rest as <unk> "
                        "(default: every token of the text)")
    g.add_argument("--time-size", type=positive_int, metavar="T",
                   help="tokens per stream or window at each step; gpt: its context "
                        "(default: 64)")
    g.add_argument("--sampling", choices=["streams", "windows"], default=None,
                   help="streams: the text as --batch-size parallel streams, recurrent "
                        "layers carrying their state from step to step (the sequel's way; "
                        "default for recurrent networks); windows: random windows each "
                        "step (nanoGPT's; default for gpt)")
    g.add_argument("--eval-interval", type=positive_int, metavar="N",
                   help="measure the validation text every N steps (default: each epoch; "
                        "250 for gpt)")
    g.add_argument("--eval-iters", type=positive_int, metavar="N",
                   help="windows: batches of validation windows measured (default: 20)")
    g.add_argument("--warmup-iters", type=non_negative_int, metavar="N",
                   help="warm the learning rate up over N steps, then lower it along half "
                        "a cosine to --min-lr at the last step (default: off; gpt: 100)")
    g.add_argument("--min-lr", type=positive_float, metavar="LR",
                   help="with --warmup-iters: the rate at the last step (default: --lr / 10)")


def _add_output_options(p):
    """What the run writes and shows, and how it runs."""
    p.add_argument("--save", metavar="FILE",
                   help="checkpoint file (.npz: weights, optimizer and training state), "
                        "written after every epoch, at the end and on Ctrl-C (without "
                        "--save, Ctrl-C saves to chainrule-interrupted.npz)")
    p.add_argument("--overwrite", action="store_true",
                   help="let the run replace files that exist: --save, --best-checkpoint, "
                        "--metrics, --plot, and without --save the file Ctrl-C saves to "
                        "(default: refuse them before training)")
    p.add_argument("--metrics", metavar="FILE",
                   help="write one JSON line per epoch (epoch, iteration, loss, train_acc, "
                        "test_acc, elapsed); a resumed run appends")
    p.add_argument("--plot", metavar="FILE",
                   help="draw the loss and accuracy curves to FILE (.png, .svg or .pdf) "
                        "at the end (needs matplotlib)")
    p.add_argument("--resume", metavar="FILE",
                   help="continue the run saved in FILE with its own model, optimizer, "
                        "batch size, length, seed, data, validation split, augmentation "
                        "and callbacks (--epochs/--iters: to a new total); it keeps "
                        "saving to FILE unless --save says otherwise")
    p.add_argument("--quiet", "-q", action="store_true",
                   help="print only the final line (for scripts)")
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel training over MPI: start N processes with "
                        "mpiexec -n N chainrule train --distributed ...; each trains on its "
                        "share of every batch (needs the mpi extra; see "
                        "docs/distributed.md)")
    p.add_argument("--serve", action="store_true",
                   help="show live loss and accuracy curves on a local web page")
    p.add_argument("--host", default="127.0.0.1", help="address for --serve (default: %(default)s)")
    p.add_argument("--port", type=port_number, default=8000,
                   help="port for --serve (default: %(default)s; 0: any free port)")
