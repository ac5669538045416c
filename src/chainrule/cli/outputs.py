"""The files `chainrule train` writes, checked before any training (better said now
than after an hour), and where the state goes when they cannot be written after all."""

import os
import tempfile

from ..checkpoint import CheckpointError, load_checkpoint


def check_output(path, what):
    """Why an output file cannot be written, or None.

    The folder must exist and take a new file (tried with a temporary one: permissions,
    a read-only disk or /proc say no only when asked), and the file, if it exists, must
    be writable. A symbolic link is checked where it points, where it will be written.
    """
    if os.path.islink(path):
        path = os.path.realpath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        return f"{what} {path} is a directory"
    if not os.path.isdir(folder):
        return f"cannot write {what} {path}: the folder {folder} does not exist"
    if os.path.exists(path) and not os.access(path, os.W_OK):
        return f"cannot write {what} {path}: the file is not writable"
    problem = folder_problem(folder)
    if problem:
        return f"cannot write {what} {path}: {problem}"
    return None


def folder_problem(folder):
    """Why a new file cannot be made in `folder`, or None."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".chainrule-check-"):
            pass
    except OSError as exc:
        return f"cannot create files in {folder} ({exc.strerror or exc})"
    return None


def _same_file(a, b):
    return os.path.realpath(os.path.abspath(a)) == os.path.realpath(os.path.abspath(b))


def outputs_problem(args, save):
    """Every output of `train` writable and each on a path of its own; a message if
    not. `save` is where the run is saved (--save, or the --resume file)."""
    outputs = [(save, "--save", "checkpoint"), (args.metrics, "--metrics", "metrics file"),
               (args.plot, "--plot", "plot"),
               (args.best_checkpoint, "--best-checkpoint", "best checkpoint")]
    outputs = [(path, flag, what) for path, flag, what in outputs if path]
    for i, (path, flag, what) in enumerate(outputs):
        for other, other_flag, _ in outputs[:i]:
            if _same_file(path, other):
                return (f"{other_flag} {other} and {flag} {path} are the same file: one "
                        f"would overwrite the other; give each its own name")
    for path, flag, what in outputs:
        problem = check_output(path, what)
        if problem:
            return problem
    if args.plot:
        from ..plot import picture_format
        try:
            picture_format(args.plot)
        except ValueError as exc:
            return f"--plot {exc}"
    if save and not args.resume and not args.overwrite and os.path.exists(save):
        return (f"{save} exists{describe_checkpoint(save)}; a new run would "
                f"replace it: continue it with --resume {save}, or give --overwrite "
                f"to replace it, or another --save name")
    return None


def describe_checkpoint(path):
    """ " (a checkpoint at iteration 600 of 600, test accuracy 0.9490)", or "" """
    try:
        training = load_checkpoint(path).training
    except (CheckpointError, OSError):
        return ""
    if not training:
        return " (a saved model)"
    text = f" (a checkpoint at iteration {training['iteration']} of {training['max_iter']}"
    if training.get("history"):
        last = training["history"][-1]
        kind = "test" if "test_acc" in last else "validation"
        text += f", {kind} accuracy {last.get('test_acc', last.get('val_acc')):.4f}"
    return text + ")"


def interrupt_path(save):
    """Where Ctrl-C saves the state: `save`, else chainrule-interrupted.npz here, or in
    the temporary folder when this folder takes no files."""
    if save:
        return save
    name = "chainrule-interrupted.npz"
    if folder_problem(os.getcwd()) is None:
        return name
    return os.path.join(tempfile.gettempdir(), name)


def rescue_state(trainer, exc, path):
    """After a failed write during training: save the state somewhere, say where."""
    failed = getattr(exc, "filename", None) or path
    message = f"could not write {failed} ({exc.strerror or exc})"
    for folder in (os.getcwd(), tempfile.gettempdir()):
        rescue = os.path.join(folder, f"chainrule-rescued-{os.getpid()}.npz")
        try:
            trainer.save(rescue)
        except (OSError, ValueError):
            continue
        return (f"{message}; the state at iteration {trainer.current_iter} is saved to "
                f"{rescue} ({resume_advice(rescue)})")
    return f"{message}; the state could not be saved anywhere"


def resume_advice(path):
    return f"continue with: chainrule train --resume {path}"
