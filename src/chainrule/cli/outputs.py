"""The files the command writes, checked before any work (better said now than after
an hour), and where the state goes when they cannot be written after all.

One rule for every file any subcommand writes (train's --save, --best-checkpoint,
--metrics, --plot and the file Ctrl-C saves to; plot -o, graph -o, book import-weights
-o): an existing file is replaced only when --overwrite says so (`replacing`).
"""

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


def replacing(path, flag, overwrite, advice=""):
    """Why writing `path` (given by `flag`) is refused: it exists and --overwrite was
    not given; None when it may be written. A folder is refused whatever --overwrite
    says. `advice`: another way out, said first ("continue it with --resume X")."""
    if not path:
        return None
    if os.path.isdir(path):
        return f"{flag} {path} is a folder, not a file: give a file name in it"
    if overwrite or not os.path.exists(path):
        return None
    described = describe_checkpoint(path) if path.lower().endswith(".npz") else ""
    ways = [advice] if advice else []
    ways += ["give --overwrite to replace it", f"or another {flag} name"]
    return f"{flag} {path} exists{described} and would be replaced: {', '.join(ways)}"


def outputs_problem(args, save):
    """Every output of `train` writable, each on a path of its own, and none an
    existing file unless --overwrite; a message if not. `save` is where the run is
    saved (--save, or the --resume file)."""
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
    return _replaced_problem(args, save)


def _replaced_problem(args, save):
    """The one rule for train's files: what a run would replace without --overwrite.
    A resumed run keeps saving to its own file, appends to --metrics and keeps the
    best checkpoint it had; everything else it writes anew."""
    resumed_file = args.resume and save and _same_file(save, args.resume)
    if save and not resumed_file:
        problem = replacing(save, "--save", args.overwrite, f"continue it with --resume {save}")
        if problem:
            return problem
    if not save and not args.overwrite:
        path = interrupt_path(None)
        if os.path.isfile(path):
            return (f"{path} exists{describe_checkpoint(path)} and a new run's Ctrl-C "
                    f"would replace it (without --save, Ctrl-C saves there): continue it "
                    f"with --resume {path}, give --save FILE, or --overwrite to replace it")
    new_files = [(args.plot, "--plot")]
    if not args.resume:  # (a resumed run appends to its metrics and keeps its best file)
        new_files += [(args.metrics, "--metrics"), (args.best_checkpoint, "--best-checkpoint")]
    for path, flag in new_files:
        problem = replacing(path, flag, args.overwrite)
        if problem:
            return problem
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
        if os.path.exists(rescue):  # a file of an earlier run under the same number
            try:
                handle, rescue = tempfile.mkstemp(suffix=".npz", prefix="chainrule-rescued-",
                                                  dir=folder)
                os.close(handle)
            except OSError:
                continue
        try:
            trainer.save(rescue)
        except (OSError, ValueError):
            continue
        return (f"{message}; the state at iteration {trainer.current_iter} is saved to "
                f"{rescue} ({resume_advice(rescue)})")
    return f"{message}; the state could not be saved anywhere"


def resume_advice(path):
    return f"continue with: chainrule train --resume {path}"
