"""Running a script of the book's repository unchanged, on chainrule.

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
"""

import contextlib
import importlib
import importlib.abc
import importlib.util
import os
import runpy
import sys
import traceback

from ..files import atomic_file

__all__ = ["book_modules", "run_script", "BOOK_MODULES", "ScriptNotFound"]

#: the modules of the book's layout, by the names the book's scripts import them by
BOOK_MODULES = ("common", "common.functions", "common.gradient", "common.util",
                "common.layers", "common.optimizer", "common.trainer",
                "common.multi_layer_net", "common.multi_layer_net_extend",
                "dataset", "dataset.mnist")
_TOP_LEVEL = ("common", "dataset")


class ScriptNotFound(FileNotFoundError):
    """The script to run does not exist or is not a file."""


def _is_book_name(name):
    return name in _TOP_LEVEL or name.startswith(("common.", "dataset."))


@contextlib.contextmanager
def book_modules():
    """Inside the block, `import common.layers`, `from dataset.mnist import load_mnist`
    and the rest of the book's layout give chainrule's modules (chainrule.book.common.*,
    chainrule.book.dataset.*), whatever sys.path holds. Whatever those names meant
    before (a user's own `common` package, say) is restored on the way out."""
    saved = {name: module for name, module in sys.modules.items() if _is_book_name(name)}
    for name in saved:
        del sys.modules[name]
    served = {name: importlib.import_module(f"{__package__}.{name}") for name in BOOK_MODULES}
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


def run_script(script, args=(), *, figures="auto", stream=None):
    """Run the book's `script` with `args` as its sys.argv[1:]; return its exit status.

    The script runs as __main__ from its own folder with the book's layout served by
    chainrule (see the module docstring); figures is "auto", "show" or "save" (see
    _figures). An exception in the script is printed as Python would print it and
    gives status 1; sys.exit(n) gives n. Raises ScriptNotFound if there is no such file.
    """
    stream = sys.stderr if stream is None else stream
    path = os.path.abspath(os.fspath(script))
    if not os.path.isfile(path):
        raise ScriptNotFound(f"no such script: {script}")
    folder = os.path.dirname(path)
    checkout = os.path.dirname(folder)
    stem = os.path.splitext(os.path.basename(path))[0]
    before = set(sys.modules)
    old_cwd, old_argv, old_path = os.getcwd(), sys.argv, list(sys.path)
    os.chdir(folder)
    sys.argv = [path, *args]
    sys.path.insert(0, folder)  # as `python script.py` does
    try:
        with book_modules(), _figures(figures, folder, stem, stream):
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
        # The script's own modules (two_layer_net, deep_convnet, ...) go too: another
        # run, of another chapter, must import its own.
        for name in set(sys.modules) - before:
            module_file = getattr(sys.modules.get(name), "__file__", None)
            if module_file and _inside(module_file, checkout):
                del sys.modules[name]
