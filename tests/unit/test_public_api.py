"""The shape of the package: every module says what it offers in ``__all__``, completely (httpx tests its
own the same way), and the private names of other libraries are reached from one adapter module each."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import proxy

PACKAGE_DIR = Path(proxy.__file__).parent
MODULES = sorted(
    info.name for info in pkgutil.walk_packages([str(PACKAGE_DIR)], prefix="proxy.") if not info.ispkg
)
ADAPTERS = {
    "proxy/connection_pool.py": "httpx and httpcore: the linear connection pool",
    "proxy/backends/litellm_adapter.py": "litellm",
}
"""The only modules allowed to touch another library's private names, and whose."""


@pytest.mark.parametrize("name", MODULES)
def test_all_lists_every_public_class_and_function_the_module_defines(name):
    module = importlib.import_module(name)
    declared = getattr(module, "__all__", None)
    assert declared is not None, f"{name} has no __all__"
    assert sorted(declared) == sorted(set(declared)), f"{name}.__all__ repeats a name"
    missing = [item for item in declared if not hasattr(module, item)]
    assert not missing, f"{name}.__all__ names what the module does not have: {missing}"
    defined = {
        attribute
        for attribute, value in vars(module).items()
        if not attribute.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and value.__module__ == name
    }
    assert defined <= set(declared), f"{name}.__all__ lacks {sorted(defined - set(declared))}"


def _private_uses(path: Path) -> list[str]:
    """Where ``path`` imports a private module or reads a private attribute of anything but itself."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        module = node.module if isinstance(node, ast.ImportFrom) else None
        if module and module != "__future__" and any(part.startswith("_") for part in module.split(".")):
            found.append(f"line {node.lineno}: from {node.module} import ...")
        is_private = (
            isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.endswith("__")
        )
        if is_private and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


@pytest.mark.parametrize(
    "path", sorted(PACKAGE_DIR.rglob("*.py")), ids=lambda path: str(path.relative_to(PACKAGE_DIR.parent))
)
def test_private_names_of_other_libraries_only_in_their_adapter(path):
    relative = str(path.relative_to(PACKAGE_DIR.parent))
    if relative in ADAPTERS:
        return
    assert _private_uses(path) == []


def test_the_adapters_are_where_the_private_names_are():
    """Each adapter exists and still needs its exemption (else the exemption should go)."""
    for relative in ADAPTERS:
        assert (PACKAGE_DIR.parent / relative).is_file()
    assert _private_uses(PACKAGE_DIR.parent / "proxy/connection_pool.py")
