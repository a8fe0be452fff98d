"""The shape docs/architecture.md promises, checked on the import statements of every module:
the services never import each other or the tools, the contract imports nothing of theirs, core
packages stay pure, and no modules import each other in a circle."""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGES = ("schemas", "services", "tools")
SERVICES = ("ingest", "match", "notify")
# What a pure core may import from outside its own service's core (besides schemas and the standard
# library and third-party libraries that do no I/O of their own).
CORE_MAY_IMPORT = (
    "services.common.config",
    "services.common.addresses",
    "services.common.yamlsafe",
)
# The one documented exception (docs/architecture.md, "Decisions worth knowing"): the subscription
# model builds its channel union from the channel registry, and only from the registry (the package's
# __init__), never from a channel module itself.
CORE_EXCEPTIONS = {"services.notify.core.model": ("services.notify.channels",)}


def _modules() -> Iterator[tuple[str, Path]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            yield name, path


def _imports(path: Path, top_level_only: bool) -> set[str]:
    """Project modules imported by a file; top-level only leaves out imports inside functions and
    under ``if TYPE_CHECKING:``, which cannot make an import cycle."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] in PACKAGES}


MODULES = dict(_modules())


@functools.cache
def all_imports() -> dict[str, set[str]]:
    """Every project import of every module, read once for all the tests that need it."""
    return {name: _imports(path, top_level_only=False) for name, path in MODULES.items()}


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_the_services_never_import_the_tools() -> None:
    wrong = {m: sorted(i for i in imports if _under(i, "tools")) for m, imports in all_imports().items()}
    assert {m: i for m, i in wrong.items() if i and _under(m, "services")} == {}


def test_the_contract_imports_nothing_of_the_services() -> None:
    contract = {m: imports for m, imports in all_imports().items() if _under(m, "schemas")}
    wrong = {m: sorted(i for i in imports if not _under(i, "schemas")) for m, imports in contract.items()}
    assert {m: i for m, i in wrong.items() if i} == {}


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_never_imports_another(service: str) -> None:
    others = [f"services.{other}" for other in SERVICES if other != service]
    wrong = {
        module: sorted(i for i in imports if any(_under(i, o) for o in others))
        for module, imports in all_imports().items()
        if _under(module, f"services.{service}")
    }
    assert {m: i for m, i in wrong.items() if i} == {}


@pytest.mark.parametrize("service", SERVICES)
def test_core_imports_only_core_the_contract_and_pure_helpers(service: str) -> None:
    core = f"services.{service}.core"
    wrong: dict[str, list[str]] = {}
    for module, imports in all_imports().items():
        if not _under(module, core):
            continue
        allowed = (core, "schemas", *CORE_MAY_IMPORT)
        exceptions = CORE_EXCEPTIONS.get(module, ())
        outside = sorted(
            i
            for i in imports
            if not any(_under(i, a) for a in allowed)
            and not any(_under(i, e) and (i == e or i not in MODULES) for e in exceptions)
        )
        if outside:
            wrong[module] = outside
    assert wrong == {}


def test_no_modules_import_each_other_in_a_circle() -> None:
    graph = {
        name: {i for i in _imports(path, top_level_only=True) if i in MODULES and i != name}
        for name, path in MODULES.items()
    }
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


MAX_MODULE_LINES = 500


def test_no_module_is_longer_than_500_lines() -> None:
    """A module past 500 lines holds more than one concern (issue 18): split it by what it holds.
    Functions are held to a cyclomatic complexity of 15 by ruff (C90 in pyproject.toml)."""
    long = {
        name: lines
        for name, path in MODULES.items()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}
