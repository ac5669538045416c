"""Running the command as a user does, in a subprocess: the status and output, and no
traceback whatever happens."""

import subprocess
import sys


def run(*args, cwd):
    proc = subprocess.run([sys.executable, "-m", "chainrule", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, proc.stdout, proc.stderr
