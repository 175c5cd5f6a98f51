"""The house rules that keep the package simple, checked on the source (see CONTRIBUTING.md).

The import-layer contract itself (app -> demo -> solvers -> io -> geo -> base) is
checked by import-linter in ``.ci/run`` (``lint-imports``, contracts in pyproject.toml).
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "planner"
MAX_FUNCTION_LINES = 80
# calls that build an immutable, shared-safe value: fine as a default argument
SAFE_DEFAULT_CALLS = {"frozenset", "tuple"}


def _modules() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py") if "static" not in p.parts)


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _subpackage(module: str) -> str:
    """planner.solvers.territories.search -> planner.solvers.territories; planner.options -> planner."""
    parts = module.split(".")
    path = PKG.parent.joinpath(*parts)
    return module if path.is_dir() else ".".join(parts[:-1])


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def test_every_package_folder_ships_in_the_wheel():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(cfg["tool"]["setuptools"]["packages"])
    found = {_module_name(p) for p in PKG.rglob("__init__.py")}
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"
    assert "planner.geodata" in listed and (ROOT / "geodata" / "__init__.py").exists()


def test_no_private_name_imported_across_subpackages():
    bad = []
    for path in _modules():
        me = _module_name(path)
        home = _subpackage(me) if path.name != "__init__.py" else me
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("planner"):
                src_home = _subpackage(node.module)
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__") and src_home != home:
                        bad.append(f"{me} imports {node.module}.{alias.name}")
    assert not bad, bad


def test_no_module_level_mutable_state():
    """No ``global`` writes; module-level dicts, lists and sets are constants (UPPER_CASE, never rebound)."""
    bad = []
    for path in _modules():
        tree = _tree(path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Global):
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno} global {', '.join(node.names)}")
        for node in tree.body:
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                value = node.value
                if isinstance(value, (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)):
                    for t in targets:
                        if isinstance(t, ast.Name) and t.id.lstrip("_") != t.id.lstrip("_").upper() \
                                and t.id != "__all__":
                            bad.append(f"{path.relative_to(ROOT)}:{node.lineno} {t.id}")
    assert not bad, bad


def test_no_default_argument_built_at_import_time():
    bad = []
    for path in _modules():
        for node in ast.walk(_tree(path)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                defaults = [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]
                for d in defaults:
                    mutable = isinstance(d, (ast.List, ast.Dict, ast.Set))
                    call = isinstance(d, ast.Call) and not (isinstance(d.func, ast.Name)
                                                            and d.func.id in SAFE_DEFAULT_CALLS)
                    if mutable or call:
                        bad.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert not bad, bad


def test_functions_are_short():
    long = []
    for path in _modules():
        for node in ast.walk(_tree(path)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({n} lines)")
    assert not long, long


def test_only_the_demo_knows_the_demo():
    """The demo's office and its home adcodes appear nowhere in the package outside planner/demo."""
    words = ("OF-XM-SIMING", '"350200"', "'350200'", '"350203"', "'350203'")
    bad = [f"{p.relative_to(ROOT)}: {w}" for p in _modules() if "demo" not in p.relative_to(PKG).parts
           for w in words if w in p.read_text(encoding="utf-8")]
    assert not bad, bad


def test_options_are_frozen_keyword_only_and_validated():
    from planner.options import Options

    classes = set()
    for path in _modules():
        mod = _module_name(path)
        if "app" in mod.split(".") or mod.endswith("__main__"):
            continue
        __import__(mod)
        for obj in vars(sys.modules[mod]).values():
            if isinstance(obj, type) and issubclass(obj, Options) and obj is not Options:
                classes.add(obj)
    assert len(classes) >= 9
    for cls in classes:
        params = cls.__dataclass_params__
        assert params.frozen, cls
        assert all(f.kw_only for f in cls.__dataclass_fields__.values()), cls
        cls()  # the defaults are valid


@pytest.mark.slow
def test_wheel_installed_outside_the_repo_runs_demo(tmp_path):
    """Build the wheel, install it into a fresh venv in a temporary folder, run ``planner demo`` there.

    The venv borrows the test environment's third-party packages through a ``.pth`` file (so no
    download), but not its editable planner: the planner it runs is the one inside the wheel.
    """
    if shutil.which("git") is None:
        pytest.skip("git is needed to build from a clean copy")
    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(wheels), str(ROOT)], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = wheels.glob("planner-*.whl")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    borrowed = [p for p in sys.path if p.endswith("site-packages")]
    Path(site, "borrowed.pth").write_text("\n".join(borrowed) + "\n", encoding="utf-8")
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", site,
                              str(wheel)], capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-2000:]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PLANNER_GEODATA")}
    out = tmp_path / "run"
    where = subprocess.run([str(py), "-c", "import planner, planner.geo as g; print(planner.__file__); "
                            "print(g.geodata_dir())"], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert where.returncode == 0, where.stderr
    assert all(str(tmp_path) in line for line in where.stdout.splitlines()), where.stdout  # not the repo
    run = subprocess.run([str(py), "-m", "planner", "demo", "--out", str(out), "--no-tiles"], capture_output=True,
                         text=True, cwd=tmp_path, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Quanzhou" in run.stdout or "泉州市" in run.stdout
    assert (out / "demo_map.html").stat().st_size > 10_000 and (out / "summary.json").exists()
