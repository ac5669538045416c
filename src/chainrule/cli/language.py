"""`chainrule train` for language models: text in, a model that predicts the next token.

make_run chooses the run: a language model's (LanguageRun) when the data is text
(--dataset shakespeare, --data FILE.txt with a language model), the network reads
tokens (--model char-rnn or gpt, --layers beginning with embed) or the run resumed
was one; otherwise TrainingRun's, for images and tables. A LanguageRun reads the text,
builds the network for its vocabulary (saved in the checkpoint as the model's inputs
record) and trains it with LanguageModelTrainer; the rest (checkpoints, Ctrl-C and
--resume, callbacks, metrics, plots) is TrainingRun's.
"""

import sys
from dataclasses import dataclass

import numpy as np

from .. import compose, threads
from ..datasets import TEXT_DATASETS, DatasetError, load_text, model_vocabulary
from ..lm_trainer import LanguageModelTrainer
from ..optimizers import WarmupCosine
from .common import CommandError, dataset_message, load_model_file, note
from .options import language_model
from .presets import build_model
from .training import TrainingRun, callback_spec, draw_seed, new_length, optimizer_settings

# What a language model's run uses when an option is not given: char-rnn's are the
# sequel's chapter 6 sizes at a character's scale; gpt's are nanoGPT's shakespeare_char
# run on a CPU (4 blocks of 4 heads, 128 wide, a context of 64, batch 12, AdamW at 1e-3
# with beta2 0.99 and weight decay 0.1, clipping at 1, 100 warm-up steps then a cosine to
# 1e-4 at 2,000 steps, the validation loss every 250 steps over 20 batches).
DEFAULTS = {
    "char-rnn": {"batch_size": 32, "time_size": 64, "sampling": "streams",
                 "optimizer": "adam", "lr": 2e-3, "clip_grad": 5.0, "iters": 2000},
    "gpt": {"batch_size": 12, "time_size": 64, "sampling": "windows", "optimizer": "adamw",
            "lr": 1e-3, "beta2": 0.99, "weight_decay": 0.1, "clip_grad": 1.0,
            "warmup_iters": 100, "min_lr": 1e-4, "eval_interval": 250, "iters": 2000},
    None: {"batch_size": 32, "time_size": 64, "optimizer": "adam", "lr": 1e-3,
           "iters": 2000},
}
MAX_TIME_SIZE = 4096


def wants_text(args, resumed=None):
    """Whether the run asked for is a language model's: a resumed one's, or what the
    options ask for (cli.options.language_model)."""
    if resumed is not None:
        return model_vocabulary(resumed.model) is not None
    return language_model(args)


def make_run(args, comm=None):
    """The run the options ask for: a LanguageRun or a TrainingRun (CommandError for
    a language model's option given to another network, or text to one)."""
    resumed = None
    if args.resume:
        resumed = load_model_file(args.resume, refuse_broken=False)
    if wants_text(args, resumed):
        return LanguageRun(args, comm, resumed)
    if args.dataset in TEXT_DATASETS:  # (a language model's options: cli.options.APPLIES)
        raise CommandError(f"--dataset {args.dataset} is a text: it trains language models "
                           f"(--model char-rnn or gpt, or --layers beginning with embed)")
    return TrainingRun(args, comm, resumed)


def _setting(args, key, kind):
    """The option's value, else the default of the kind of language model."""
    value = getattr(args, key, None)
    return value if value is not None else DEFAULTS[kind].get(key)


@dataclass
class LanguagePlan:
    """Everything a language model's trainer is built from."""
    network: object
    optimizer: str
    optimizer_param: dict
    seed: int
    batch_size: int
    time_size: int
    sampling: str
    epochs: object
    iters: object
    lr_schedule: object
    callback_spec: dict
    eval_interval: object
    eval_iters: int
    clip_grad: object


class LanguageRun(TrainingRun):
    """One `chainrule train` run of a language model (see the module docstring)."""

    def _check_request(self):
        super()._check_request()
        if self.args.validation_split:
            raise CommandError("a language model is measured on the last 10% of the text: "
                               "--validation-split does not apply")
        if self.args.augment:
            raise CommandError("--augment applies to images, not text")
        time_size = self.args.time_size
        if time_size is not None and time_size > MAX_TIME_SIZE:
            raise CommandError(f"--time-size {time_size} is more than {MAX_TIME_SIZE}")

    @property
    def kind(self):
        """"char-rnn", "gpt" or None (a network of one's own)."""
        if self.resumed is not None or self.args.layers:
            return None
        return self.args.model if self.args.model in DEFAULTS else "char-rnn"

    def _load_data(self):
        """The text, read as the model (new, or resumed) reads it."""
        args = self.args
        vocab = model_vocabulary(self.resumed.model) if self.resumed is not None else None
        source = args.data or (args.dataset if args.dataset in TEXT_DATASETS else None)
        if source is None and self.resumed is not None:
            source = self.resumed.model.inputs.get("source")
        source = source or "shakespeare"
        try:
            text = load_text(source, tokens=args.tokens or "chars",
                             vocab_size=args.vocab_size, vocab=vocab)
        except DatasetError as exc:
            raise CommandError(dataset_message(exc)) from None
        except (ValueError, OSError) as exc:
            raise CommandError(f"{source}: {exc}") from None
        if text.note and not self.quiet:
            note(text.note)
        self.text, self.dataset, self.record = text, str(source), None
        return (text.train, None), (text.validation, None)

    def _plan(self):
        try:
            if self.resumed is not None:
                return self._plan_from_checkpoint()
            return self._plan_from_args()
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        except MemoryError as exc:
            raise CommandError(f"not enough memory to build this network ({exc})") from None

    def _plan_from_args(self):
        args, kind = self.args, self.kind
        seed = args.seed if args.seed is not None else draw_seed(self.comm)
        time_size = _setting(args, "time_size", kind)
        vocab = len(self.text.vocab)
        network = self._network(time_size, vocab, seed)
        network.inputs = self.text.describe()
        optimizer, settings = self._optimizer(kind)
        warmup = _setting(args, "warmup_iters", kind)
        schedule = args.lr_schedule
        if warmup is not None:
            floor = (_setting(args, "min_lr", kind) or settings["lr"] / 10) / settings["lr"]
            schedule = WarmupCosine(warmup, min(floor, 0.999999)).name
        epochs, iters = args.epochs, args.iters
        if epochs is None and iters is None:
            iters = DEFAULTS[kind]["iters"]
        sampling = args.sampling or DEFAULTS[kind].get("sampling") or (
            "windows" if any(type(layer).__name__ == "MultiHeadAttention"
                             for layer in network.layers.values()) else "streams")
        return LanguagePlan(network, optimizer, settings, seed,
                            _setting(args, "batch_size", kind), time_size, sampling, epochs,
                            iters, schedule, callback_spec(args),
                            _setting(args, "eval_interval", kind),
                            _setting(args, "eval_iters", kind) or 20,
                            _setting(args, "clip_grad", kind))

    def _network(self, time_size, vocab, seed):
        """The preset or the --layers network, for the text's vocabulary."""
        args = self.args
        rng = np.random.default_rng(seed)
        if not args.layers:
            return build_model(args, (time_size,), vocab, rng=rng)
        from ..models import Sequential
        items = [_with_vocabulary(item, vocab) for item in compose.build_items(args.layers)]
        network = Sequential(items, time_size, dtype=args.dtype, rng=rng)
        if network.output_size != vocab or not network.is_sequence_model:
            raise ValueError(f"the last layer gives {network.output_size} scores, but the "
                             f"text has {vocab} tokens: end --layers with affine({vocab})")
        return network

    def _optimizer(self, kind):
        """(name, settings): the options', else the language model's defaults."""
        args = self.args
        name, settings = optimizer_settings(args, DEFAULTS[kind].get("optimizer"),
                                            DEFAULTS[kind].get("lr"))
        if name in ("adam", "adamw") and args.beta2 is None:
            settings["beta2"] = DEFAULTS[kind].get("beta2", 0.999)
        if name == "adamw":
            settings["weight_decay"] = _setting(args, "weight_decay", kind) or 0.0
        return name, settings

    def _plan_from_checkpoint(self):
        resumed, args = self.resumed, self.args
        training = resumed.training
        optimizer = resumed.make_optimizer()
        if optimizer is None:
            raise ValueError(f"{args.resume} holds no optimizer state to resume with")
        spec = (training.get("run") or {}).get("callbacks") or {}
        return LanguagePlan(resumed.model, optimizer, optimizer.hyperparameters(),
                            training["seed"], training["batch_size"],
                            training.get("time_size", 64), training.get("sampling", "streams"),
                            None, new_length(args, resumed),
                            training.get("lr_schedule", "constant"), spec,
                            training.get("eval_interval"), training.get("eval_iters", 20),
                            training.get("clip_grad"))

    def _make_trainer(self):
        plan = self.plan
        trainer_class, extra = LanguageModelTrainer, {}
        if self.comm is not None:  # one process per core: one BLAS thread each
            from ..distributed import DistributedLanguageModelTrainer
            trainer_class, extra = DistributedLanguageModelTrainer, {"comm": self.comm}
            threads.apply_policy(1)
        else:
            threads.apply_policy(self.threads, plan.network, plan.batch_size * plan.time_size)
        try:
            trainer = trainer_class(
                plan.network, self.text.train, self.text.validation,
                batch_size=plan.batch_size, time_size=plan.time_size, sampling=plan.sampling,
                epochs=plan.epochs or 1, iters=plan.iters, eval_interval=plan.eval_interval,
                eval_iters=plan.eval_iters, optimizer=plan.optimizer,
                optimizer_param=plan.optimizer_param, verbose=not self.quiet,
                seed=plan.seed, callbacks=self._callbacks(), lr_schedule=plan.lr_schedule,
                clip_grad=plan.clip_grad, **extra)
            if self.resumed is not None:
                trainer.load_state(self.resumed)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        return self._finished(trainer)

    def _announcement(self):
        trainer, plan = self.trainer, self.plan
        if self.resumed is not None:
            return (f"resuming {self.args.resume} at iteration {trainer.current_iter} of "
                    f"{trainer.max_iter} on {self.dataset}")
        return (f"{plan.network!r}: {plan.optimizer} {plan.optimizer_param}, "
                f"{trainer.sampling} of {trainer.batch_size} x {trainer.time_size} tokens, "
                f"{trainer.max_iter} iterations ({trainer.iter_per_epoch} per epoch), "
                f"seed {plan.seed}, {self.dataset} ({len(self.text.vocab)} tokens)")

    def _report(self):
        trainer, final = self.trainer, self.trainer.history[-1]
        unit = "bits per character" if self.text.vocab.kind == "chars" else "bits per word"
        print(f"final: val_loss {final['val_loss']:.4f}  perplexity "
              f"{final['val_perplexity']:.2f}  {unit} {final['val_loss'] / np.log(2):.3f}  "
              f"({trainer.elapsed:.1f}s)")
        if not self.quiet and self.save:
            print(f"saved the model, its vocabulary and training state to {self.save}",
                  file=sys.stderr)


def _with_vocabulary(item, vocab):
    """An embed(...) spec without vocab= gets the text's."""
    if compose.is_spec(item) and "vocab" in item.args and item.args["vocab"] is None:
        return type(item)(item.layer_cls, **dict(item.args, vocab=vocab))
    return item
