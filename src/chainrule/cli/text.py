"""A language model from the command line: `chainrule generate`, and what `chainrule
evaluate` says of a language model (loss, perplexity and bits per token on the
validation text)."""

import json
import math
import sys

import numpy as np

from .common import CommandError, dataset_message, load_model_file
from .options import non_negative_int, positive_float, positive_int

MAX_LENGTH = 100_000  # characters or words one generate call writes at most


def language_model(path):
    """(checkpoint, network, vocabulary) of a language model's file; CommandError for
    a file that is not one."""
    from ..datasets import model_vocabulary
    checkpoint = load_model_file(path)
    vocab = model_vocabulary(checkpoint.model)
    if vocab is None:
        raise CommandError(f"{path} is not a language model (it was not trained on text); "
                           f"train one with chainrule train --model char-rnn or --model gpt")
    return checkpoint, checkpoint.model, vocab


# -- evaluate ---------------------------------------------------------------------------
def evaluate_language_model(args, checkpoint, vocab):
    """Print the validation text's loss, perplexity and bits per token (the model's
    own text unless --data names another)."""
    from ..datasets import DatasetError, load_text
    from ..lm_trainer import stream_loss, window_loss
    network = checkpoint.model
    source = args.data or network.inputs.get("source") or "shakespeare"
    try:
        text = load_text(source, vocab=vocab)
    except DatasetError as exc:
        raise CommandError(dataset_message(exc)) from None
    training = checkpoint.training or {}
    time_size = int(training.get("time_size", network.input_shape[0]))
    batch_size = int(training.get("batch_size", 32))
    with np.errstate(over="ignore"):
        if training.get("sampling") == "windows":
            loss = window_loss(network, text.validation, batch_size, time_size,
                               int(training.get("eval_iters", 20)), int(training.get("seed", 0)))
        else:
            loss = stream_loss(network, text.validation, batch_size, time_size)
    figures = {"source": str(source), "tokens": int(len(text.validation)), "loss": loss,
               "perplexity": math.exp(min(loss, 700.0)), "bits_per_token": loss / math.log(2),
               "token_kind": vocab.kind}
    if args.json:
        print(json.dumps(figures))
        return 0
    unit = "character" if vocab.kind == "chars" else "word"
    print(f"{args.model}: on the validation text of {source} ({figures['tokens']:,} "
          f"{unit}s): loss {loss:.4f} nats per {unit}, perplexity "
          f"{figures['perplexity']:.2f}, {figures['bits_per_token']:.3f} bits per {unit}")
    return 0


# -- generate ---------------------------------------------------------------------------
def cmd_generate(args):
    from ..generation import generate
    if args.length > MAX_LENGTH:
        raise CommandError(f"--length {args.length} is more than {MAX_LENGTH:,} tokens")
    _, network, vocab = language_model(args.model)
    try:
        prompt = vocab.encode(args.prompt, what="the prompt")
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    if len(prompt) == 0:
        raise CommandError("the prompt is empty: give --prompt TEXT with at least one "
                           "token of the model's vocabulary")
    out = sys.stdout
    out.write(args.prompt)
    separator = "" if vocab.kind == "chars" else " "
    for token in generate(network, prompt, args.length, temperature=args.temperature,
                          top_k=args.top_k, rng=args.seed):
        out.write(separator + vocab.decode([token]) if separator
                  else vocab.decode([token]))
        out.flush()  # the text appears as it is sampled
    out.write("\n")
    return 0


def register(sub):
    """Add `generate` to an argparse subparsers object."""
    p = sub.add_parser("generate", help="write text with a trained language model",
                       description="Sample text from a language model trained with "
                                   "chainrule train (--model char-rnn or gpt), printed as "
                                   "it is sampled: the prompt, then each next token drawn "
                                   "from the model's probabilities.")
    p.add_argument("model", metavar="MODEL", help="checkpoint file (.npz)")
    p.add_argument("--prompt", default="\n",
                   help="the text to continue (default: a line break)")
    p.add_argument("--length", type=positive_int, default=500,
                   help=f"tokens to write, at most {MAX_LENGTH:,} (default: %(default)s)")
    p.add_argument("--temperature", type=positive_float, default=1.0,
                   help="below 1: likelier tokens, more often; above 1: more surprise "
                        "(default: %(default)s)")
    p.add_argument("--top-k", type=positive_int, default=None, metavar="K",
                   help="draw among the K likeliest tokens only (default: all)")
    p.add_argument("--seed", type=non_negative_int, default=None,
                   help="the same seed writes the same text (default: a new one)")
    p.set_defaults(func=cmd_generate)
