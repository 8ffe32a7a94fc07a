"""No import cycle anywhere in ``modic_core`` (``train/`` and ``bench/`` included).

The graph comes from grimp (installed with import-linter), which also counts imports made
inside functions, so a cycle cannot hide in a lazy import.

Package-to-own-descendant edges (``modic_core/batch/__init__.py`` importing
``modic_core.batch.local``) are dropped before the search: Python always initialises a
package before its submodules, so a child importing names its parent re-exports is the
ordinary re-export pattern, not a dependency loop between two concepts. Every other edge,
child -> parent included, is kept.
"""

from __future__ import annotations

import grimp

ROOT = "modic_core"


def _is_descendant(module: str, package: str) -> bool:
    return module.startswith(package + ".")


def _without_package_to_descendant(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """``edges`` less those from a package to one of its own submodules (its ``__init__`` re-exports)."""
    return {module: {m for m in imported if not _is_descendant(m, module)} for module, imported in edges.items()}


def _import_graph() -> dict[str, set[str]]:
    """Module -> modules it imports directly (inside ``modic_core``), parent->child edges dropped."""
    graph = grimp.build_graph(ROOT, include_external_packages=False, cache_dir=None)  # no cache files in the checkout
    edges = {module: set(graph.find_modules_directly_imported_by(module)) for module in graph.modules}
    return _without_package_to_descendant(edges)


def _strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative); returns the components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return sorted(components)


def _cycle_in(component: list[str], edges: dict[str, set[str]]) -> list[str]:
    """One concrete chain ``a -> b -> ... -> a`` through ``component`` (shortest from its first module)."""
    members = set(component)
    start = component[0]
    previous: dict[str, str] = {}
    frontier = [start]
    seen = {start}
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(edges[node] & members):
                if child == start:
                    chain = [start]
                    while node != start:
                        chain.append(node)
                        node = previous[node]
                    return [start, *reversed(chain[1:]), start]
                if child not in seen:
                    seen.add(child)
                    previous[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f"no cycle through {component}")  # unreachable for a real component


def find_cycles() -> list[str]:
    """Each import cycle in ``modic_core`` as a readable ``a -> b -> a`` chain."""
    edges = _import_graph()
    return [" -> ".join(_cycle_in(c, edges)) for c in _strongly_connected(edges)]


def test_strongly_connected_finds_a_planted_cycle() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    components = _strongly_connected(edges)
    assert components == [["a", "b", "c"]]
    assert _cycle_in(components[0], edges) == ["a", "b", "c", "a"]


def test_a_package_re_exporting_its_submodule_is_not_a_cycle() -> None:
    edges = {"p": {"p.child"}, "p.child": {"p", "q"}, "q": {"p.child"}}
    components = _strongly_connected(_without_package_to_descendant(edges))
    assert components == [["p.child", "q"]]  # the child <-> sibling loop is still reported


def test_no_import_cycle_in_modic_core() -> None:
    cycles = find_cycles()
    assert not cycles, "import cycles in modic_core:\n  " + "\n  ".join(cycles)
