"""Running a script of the book's repository (or of its sequel's) unchanged, on chainrule.

The book's scripts start with `sys.path.append(os.pardir)` and then import `common.*`
and `dataset.mnist` from the checkout. `run_script` runs such a script as Python
would (as __main__, from its own folder, with its arguments in sys.argv), but with
those names already bound to chainrule's modules in sys.modules: the import system
looks there before it searches sys.path, so the checkout's own common/ and dataset/
are never read. Everything is put back afterwards: the names, sys.path, sys.argv, the
working folder and the modules the script imported from the checkout.

matplotlib: where there is no display, pyplot draws off screen and each `plt.show()`
saves the open figures as PNG files next to the script (SCRIPT-1.png, SCRIPT-2.png, ...),
saying where on stderr, one line each.

The sequel: a script of *Deep Learning from Scratch 2*'s checkout (its common/ has
time_layers.py, or the script imports dataset.ptb, dataset.sequence, dataset.spiral or
a module only the sequel's common/ has) gets the sequel's layout
(chainrule.book.sequel), its data read from the checkout's dataset/ folder, and the
checkout's chapter folders at the end of sys.path: the sequel's ch07 and ch08 modules
import each other's modules by bare name (`from seq2seq import ...` in
ch07/peeky_seq2seq.py, imported from ch08/train.py), which Python finds only with the
other chapter's folder on the path.
"""

import contextlib
import importlib
import importlib.abc
import importlib.util
import os
import re
import runpy
import sys
import traceback

from ..files import atomic_file
from .sequel import SEQUEL_MODULES

__all__ = ["book_modules", "run_script", "layout_of", "BOOK_MODULES", "SEQUEL_MODULES",
           "LAYOUTS", "ScriptNotFound"]

#: the modules of the book's layout, by the names the book's scripts import them by
BOOK_MODULES = ("common", "common.functions", "common.gradient", "common.util",
                "common.layers", "common.optimizer", "common.trainer",
                "common.multi_layer_net", "common.multi_layer_net_extend",
                "dataset", "dataset.mnist")
_TOP_LEVEL = ("common", "dataset")

#: layout name -> (the package holding its modules, the names served)
LAYOUTS = {"book": (__package__, BOOK_MODULES),
           "sequel": (f"{__package__}.sequel", SEQUEL_MODULES)}

#: imports that only the sequel's scripts make
_SEQUEL_IMPORT = re.compile(
    r"^\s*(?:from\s+dataset\s+import\s+[^\n]*\b(?:ptb|sequence|spiral)\b"
    r"|(?:from|import)\s+(?:dataset\.(?:ptb|sequence|spiral)"
    r"|common\.(?:time_layers|base_model|config|np))\b"
    r"|from\s+common\s+import\s+[^\n]*\b(?:time_layers|base_model|config|np)\b)",
    re.MULTILINE)
_CHAPTER = re.compile(r"ch\d+$")


class ScriptNotFound(FileNotFoundError):
    """The script to run does not exist or is not a file."""


def _is_book_name(name):
    return name in _TOP_LEVEL or name.startswith(("common.", "dataset."))


def layout_of(script):
    """"sequel" for a script of *Deep Learning from Scratch 2*'s checkout (its common/
    has time_layers.py, or the script imports what only the sequel has), else "book"."""
    path = os.path.abspath(os.fspath(script))
    checkout = os.path.dirname(os.path.dirname(path))
    if os.path.isfile(os.path.join(checkout, "common", "time_layers.py")):
        return "sequel"
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            source = f.read()
    except OSError:
        return "book"
    return "sequel" if _SEQUEL_IMPORT.search(source) else "book"


@contextlib.contextmanager
def book_modules(layout="book"):
    """Inside the block, `import common.layers`, `from dataset.mnist import load_mnist`
    and the rest of the book's layout give chainrule's modules (chainrule.book.common.*,
    chainrule.book.dataset.*), whatever sys.path holds; with layout="sequel", the
    sequel's (chainrule.book.sequel.common.*, ...dataset.*). Whatever those names meant
    before (a user's own `common` package, say) is restored on the way out."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    package, names = LAYOUTS[layout]
    saved = {name: module for name, module in sys.modules.items() if _is_book_name(name)}
    for name in saved:
        del sys.modules[name]
    served = {name: importlib.import_module(f"{package}.{name}") for name in names}
    sys.modules.update(served)
    try:
        yield served
    finally:
        for name in [n for n in sys.modules if _is_book_name(n)]:
            del sys.modules[name]
        sys.modules.update(saved)


def has_display():
    """Whether matplotlib can open windows here: on Linux and the BSDs only with an X11
    or Wayland display; MPLBACKEND=agg (or another non-interactive backend) means no."""
    backend = os.environ.get("MPLBACKEND", "").lower()
    if backend in ("agg", "pdf", "svg", "ps", "cairo", "pgf", "template"):
        return False
    if sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


class _FigureSaver:
    """plt.show() replaced by saving every open figure as PNG next to the script."""

    def __init__(self, folder, stem, stream):
        self.folder = folder
        self.stem = stem
        self.stream = stream
        self.saved = []

    def show(self, *args, **kwargs):
        import matplotlib.pyplot as plt
        for number in plt.get_fignums():
            figure = plt.figure(number)
            path = os.path.join(self.folder, f"{self.stem}-{len(self.saved) + 1}.png")
            with atomic_file(path) as f:
                figure.savefig(f, format="png")
            self.saved.append(path)
            print(f"figure saved to {path}", file=self.stream)
        plt.close("all")


class _PyplotHook(importlib.abc.MetaPathFinder):
    """Patches matplotlib.pyplot's show the moment the script imports pyplot.

    A hook rather than importing pyplot up front: most of a run's scripts never draw,
    and importing pyplot costs about half a second.
    """

    def __init__(self, saver):
        self.saver = saver
        self.original_show = None

    def find_spec(self, name, path=None, target=None):
        if name != "matplotlib.pyplot":
            return None
        sys.meta_path.remove(self)  # find the real spec without finding ourselves
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        hook = self

        class _Loader(importlib.abc.Loader):
            def create_module(self, spec):
                return loader.create_module(spec)

            def exec_module(self, module):
                loader.exec_module(module)
                hook.patch(module)

        spec.loader = _Loader()
        return spec

    def patch(self, pyplot):
        if self.original_show is None:
            self.original_show = pyplot.show
            saver = self.saver

            # A plain function: pyplot.switch_backend sets attributes on `show`, which a
            # bound method cannot take.
            def show(*args, **kwargs):
                saver.show(*args, **kwargs)
            pyplot.show = show

    def restore(self):
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is not None and self.original_show is not None:
            pyplot.show = self.original_show
        self.original_show = None


@contextlib.contextmanager
def _figures(mode, folder, stem, stream):
    """mode "show": leave matplotlib alone; "save": save figures at every show();
    "auto": save when there is no display."""
    if mode == "auto":
        mode = "show" if has_display() else "save"
    if mode == "show":
        yield None
        return
    if mode != "save":
        raise ValueError(f"figures must be 'auto', 'show' or 'save', got {mode!r}")
    saver = _FigureSaver(folder, stem, stream)
    hook = _PyplotHook(saver)
    old_backend = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = "Agg"
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:  # already imported in this process: patch it now
        pyplot.switch_backend("Agg")
        hook.patch(pyplot)
    sys.meta_path.insert(0, hook)
    try:
        yield saver
    finally:
        sys.meta_path.remove(hook)
        hook.restore()
        if old_backend is None:
            os.environ.pop("MPLBACKEND", None)
        else:
            os.environ["MPLBACKEND"] = old_backend


def _inside(path, folder):
    try:
        return os.path.commonpath([os.path.abspath(path), folder]) == folder
    except ValueError:
        return False


def _from_checkout(module, checkout, cwd):
    """Whether a module was imported from the checkout: its file, or for a namespace
    package (the sequel's `import ch07.seq2seq` makes ch07 one) its folders. Paths
    found through the scripts' relative sys.path entries ('..') are relative to the
    run's working folder, cwd."""
    module_file = getattr(module, "__file__", None)
    if module_file:
        return _inside(os.path.join(cwd, module_file), checkout)
    paths = list(getattr(module, "__path__", None) or [])
    return bool(paths) and all(_inside(os.path.join(cwd, p), checkout) for p in paths)


@contextlib.contextmanager
def _sequel_run(checkout, folder):
    """The sequel's data read from the checkout's dataset/ folder, its data modules
    fresh (sequence's vocabulary empty, ptb's cache and notice cleared), and the other
    chapter folders at the end of sys.path (restored with sys.path by run_script)."""
    from .sequel import dataset
    from .sequel.dataset import ptb, sequence
    try:
        chapters = sorted(name for name in os.listdir(checkout)
                          if _CHAPTER.match(name) and os.path.isdir(os.path.join(checkout, name)))
    except OSError:
        chapters = []
    sys.path.extend(os.path.join(checkout, name) for name in chapters
                    if os.path.join(checkout, name) != folder)
    old_folder = dataset.folder
    dataset.folder = os.path.join(checkout, "dataset")
    ptb.reset()
    sequence.reset()
    try:
        yield
    finally:
        dataset.folder = old_folder
        ptb.reset()
        sequence.reset()


def _exit_code(exc):
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _print_script_traceback(exc, script):
    """The traceback as Python prints it for the script: from the script's frame on."""
    tb = exc.__traceback__
    while tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename) != script:
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc, tb or exc.__traceback__, file=sys.stderr)


def _forget_relative_finders():
    """Drop the import system's finders cached for relative sys.path entries.

    The scripts append '..' to sys.path; Python caches a finder per entry, made
    absolute against the working folder of the moment, so after a run from another
    folder '..' would still find the previous run's checkout.
    """
    for key in [k for k in sys.path_importer_cache if not os.path.isabs(k)]:
        del sys.path_importer_cache[key]


def run_script(script, args=(), *, figures="auto", stream=None, layout=None):
    """Run the book's `script` with `args` as its sys.argv[1:]; return its exit status.

    The script runs as __main__ from its own folder with the book's layout served by
    chainrule (see the module docstring); layout is "book", "sequel" or None (found by
    layout_of); figures is "auto", "show" or "save" (see _figures). An exception in the
    script is printed as Python would print it and gives status 1; sys.exit(n) gives n.
    Raises ScriptNotFound if there is no such file.
    """
    stream = sys.stderr if stream is None else stream
    path = os.path.abspath(os.fspath(script))
    if not os.path.isfile(path):
        raise ScriptNotFound(f"no such script: {script}")
    folder = os.path.dirname(path)
    checkout = os.path.dirname(folder)
    stem = os.path.splitext(os.path.basename(path))[0]
    layout = layout_of(path) if layout is None else layout
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    before = set(sys.modules)
    old_cwd, old_argv, old_path = os.getcwd(), sys.argv, list(sys.path)
    _forget_relative_finders()
    os.chdir(folder)
    sys.argv = [path, *args]
    sys.path.insert(0, folder)  # as `python script.py` does
    try:
        with book_modules(layout), _figures(figures, folder, stem, stream), \
                (_sequel_run(checkout, folder) if layout == "sequel" else contextlib.nullcontext()):
            try:
                runpy.run_path(path, run_name="__main__")
            except SystemExit as exc:
                return _exit_code(exc)
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # noqa: BLE001  (the script's own error)
                _print_script_traceback(exc, path)
                return 1
            return 0
    finally:
        os.chdir(old_cwd)
        sys.argv = old_argv
        sys.path[:] = old_path
        _forget_relative_finders()
        # The script's own modules (two_layer_net, deep_convnet, ...) go too: another
        # run, of another chapter, must import its own.
        for name in set(sys.modules) - before:
            if _from_checkout(sys.modules.get(name), checkout, folder):
                del sys.modules[name]
