"""The benchmark scripts reach only names skconv has.

They reach into the engine (to switch a rule off, swap a compiled loop, read
a constant) and are run by hand, so a renamed or moved name breaks them
silently. Each script is read, not run: every name imported from skconv and
every attribute taken of an imported skconv module must exist.
"""

import ast
import importlib
import types
from pathlib import Path

import pytest

from skconv.engine.compiled import LOOPS

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = sorted((ROOT / "benchmarks").glob("*.py"))


def _module(name):
    """The module ``name``, or None when it cannot load here (an optional
    dependency missing, or no such module)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _unbuilt(module, name):
    """Whether ``module.name`` is a compiled loop this build lacks."""
    return module == "skconv.engine" and name in LOOPS


def _skconv_modules(tree):
    """``{alias: module}`` for every skconv module the script imports, and the
    names it imports from skconv that do not exist."""
    aliases, missing = {}, []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for name in node.names:
                if name.name.split(".")[0] == "skconv":
                    module = _module(name.name if name.asname else "skconv")
                    if module is not None:
                        aliases[name.asname or "skconv"] = module
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "skconv":
            module = _module(node.module)
            if module is None:
                continue
            for name in node.names:
                value = getattr(module, name.name, None)
                if value is None:
                    value = _module(f"{node.module}.{name.name}")
                    if value is None and not _unbuilt(node.module, name.name):
                        missing.append(f"line {node.lineno}: {node.module}.{name.name}")
                if isinstance(value, types.ModuleType):
                    aliases[name.asname or name.name] = value
    return aliases, missing


@pytest.mark.parametrize("script", BENCHMARKS, ids=[p.name for p in BENCHMARKS])
def test_benchmark_reaches_only_names_skconv_has(script):
    tree = ast.parse(script.read_text(encoding="utf-8"))
    aliases, missing = _skconv_modules(tree)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and not hasattr(aliases[node.value.id], node.attr)
        ):
            module = aliases[node.value.id].__name__
            missing.append(f"line {node.lineno}: {module}.{node.attr}")
    assert not missing, f"{script.name} reaches names skconv does not have: {missing}"


def test_the_check_finds_a_name_that_moved(tmp_path):
    # The rule a benchmark once switched off on the module it had left.
    script = "import skconv.engine.features as features\nrule = features.MIN_THREAD_SECONDS\n"
    tree = ast.parse(script)
    aliases, _ = _skconv_modules(tree)
    assert not hasattr(aliases["features"], "MIN_THREAD_SECONDS")
    path = tmp_path / "moved.py"
    path.write_text(script)
    with pytest.raises(AssertionError, match="skconv.engine.features.MIN_THREAD_SECONDS"):
        test_benchmark_reaches_only_names_skconv_has(path)
