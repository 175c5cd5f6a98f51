"""``planner notebooks``: JupyterLab on the notebooks folder, with the project's Jupyter configuration.

    planner notebooks [--port 8888] [--dir notebooks] [--language zh|en|both] [--exports DIR] [--no-browser]

Runs ``<this Python> -m jupyter lab`` (the venv's Jupyter, whatever is on PATH) on the folder, with
``planner/app/jupyter_config.py`` as its configuration (the project's notebooks are saved without
outputs or widget state), ``--allow-root`` when run as root (containers). ``--language`` sets the apps'
language (``PLANNER_UI_LANGUAGE``), ``--exports`` the folder the apps export into (``PLANNER_OUT``;
default ``out/`` under the project root). Arguments after ``--`` go to ``jupyter lab`` as they are.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

LANGUAGES = ("zh", "en", "both")
ROOT_MARKERS = ("pyproject.toml", ".git")


def config_file() -> Path:
    """The Jupyter configuration file the server runs with."""
    from planner.app import jupyter_config

    return Path(jupyter_config.__file__).resolve()


def notebooks_dir(given: str | None = None, cwd: Path | None = None) -> Path:
    """``given``; else ``notebooks/`` of the project at or above the working directory; else the repository
    the package runs from (an editable install)."""
    if given:
        return Path(given).expanduser().resolve()
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "notebooks").is_dir() and any((folder / m).exists() for m in ROOT_MARKERS):
            return folder / "notebooks"
    repo = Path(__file__).resolve().parents[3] / "notebooks"
    if repo.is_dir():
        return repo
    raise FileNotFoundError(f"no notebooks folder at or above {here}: name one with --dir")


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def command(folder: Path, *, port: int | None = None, root: bool | None = None, browser: bool = True,
            extra: list[str] | None = None) -> list[str]:
    """The command that starts JupyterLab on ``folder`` (``root``: add ``--allow-root``; default: when
    this process runs as root)."""
    cmd = [sys.executable, "-m", "jupyter", "lab", f"--ServerApp.root_dir={folder}", f"--config={config_file()}"]
    if port is not None:
        cmd.append(f"--port={int(port)}")
    if is_root() if root is None else root:
        cmd.append("--allow-root")
    if not browser:
        cmd.append("--no-browser")
    return cmd + list(extra or [])


def launcher() -> str:
    """How to call ``planner`` here: ``planner`` when that is this installation's script on PATH, else
    the script's path, else ``<this Python> -m planner``."""
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if script is not None and script.name == "planner" and script.exists():
        on_path = shutil.which("planner")
        if on_path and Path(on_path).resolve() == script.resolve():
            return "planner"
        return shlex.quote(str(script))
    return f"{shlex.quote(sys.executable)} -m planner"


def hint() -> str:
    """The line other commands print to say how to open the notebooks (a command that works from here)."""
    return f"Open the notebooks: {launcher()} notebooks   (JupyterLab on notebooks/; --help for the options)"


def environment(args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    if args.language:
        env["PLANNER_UI_LANGUAGE"] = args.language
    if args.exports:
        env["PLANNER_OUT"] = str(Path(args.exports).expanduser().resolve())
    return env


def run(args: argparse.Namespace) -> int:
    folder = notebooks_dir(args.dir)
    extra = [a for a in (args.jupyter_args or []) if a != "--"]
    cmd = command(folder, port=args.port, browser=not args.no_browser, extra=extra)
    print("Starting JupyterLab: " + " ".join(shlex.quote(c) for c in cmd), flush=True)
    if args.dry_run:
        return 0
    if os.name == "posix":  # Jupyter replaces this process: Ctrl-C and kill reach the server itself
        os.execve(cmd[0], cmd, environment(args))
    try:
        return subprocess.call(cmd, env=environment(args))
    except KeyboardInterrupt:  # Jupyter got the Ctrl-C too and shut down
        return 130


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("notebooks", help="open the notebooks in JupyterLab (the venv's Jupyter)",
                       description="Start JupyterLab on the notebooks folder with this Python's Jupyter and the "
                                   "project's configuration (notebooks saved without outputs or widget state); "
                                   "--allow-root when run as root.")
    p.add_argument("--port", type=int, default=None, help="the server's port (default: Jupyter's, 8888 or the next "
                                                          "free one)")
    p.add_argument("--dir", default=None, metavar="DIR", help="the folder to open (default: notebooks/ of the project)")
    p.add_argument("--language", choices=LANGUAGES, default=None,
                   help="the apps' language: zh (中文), en, or both (default)")
    p.add_argument("--exports", default=None, metavar="DIR",
                   help="the folder the apps export into (default: out/ under the project root)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser (print the URL only)")
    p.add_argument("--dry-run", action="store_true", help="print the command, do not start the server")
    p.add_argument("jupyter_args", nargs=argparse.REMAINDER, help="after --: arguments for jupyter lab")
    p.set_defaults(func=run)
    return p
