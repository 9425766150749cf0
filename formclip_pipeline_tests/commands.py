"""The `formclip` command run as a user runs it: the installed entry point, in a fresh process."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def formclip(*args, cwd, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("formclip")
    args = [str(a) for a in args]
    proc = subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"formclip {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc
