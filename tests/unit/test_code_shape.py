"""The package's shape stays changeable: no import circle and no function too long to read.

Both are read from the source with `ast`, so an import inside a function counts as much as one at the top.
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "hf_seqlen"
LONGEST_FUNCTION = 80


def module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def parsed_modules():
    return {module_name(path): ast.parse(path.read_text(), str(path)) for path in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(name, tree, known):
    """The package modules `name` imports anywhere in its body, relative imports resolved."""
    package = name if (PACKAGE.parent / name.replace(".", "/") / "__init__.py").exists() else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            candidates = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(candidate for candidate in candidates if candidate in known and candidate != name)
    return found


def import_circles(graph):
    """Strongly connected groups of more than one module (Tarjan's algorithm)."""
    index, lowlink, on_stack, stack, circles = {}, {}, set(), [], []

    def visit(node):
        index[node] = lowlink[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in graph[node]:
            if successor not in index:
                visit(successor)
                lowlink[node] = min(lowlink[node], lowlink[successor])
            elif successor in on_stack:
                lowlink[node] = min(lowlink[node], index[successor])
        if lowlink[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                circles.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return circles


def test_the_circle_finder_finds_a_circle_through_a_function_level_import():
    modules = {
        "pkg.a": ast.parse("from pkg import b\n"),
        "pkg.b": ast.parse("def f():\n    from pkg.a import thing\n"),
        "pkg.c": ast.parse("import pkg.a\n"),
    }
    graph = {name: imported_modules(name, tree, set(modules)) for name, tree in modules.items()}
    assert import_circles(graph) == [["pkg.a", "pkg.b"]]


def test_no_import_circle_among_the_package_modules():
    modules = parsed_modules()
    graph = {name: imported_modules(name, tree, set(modules)) for name, tree in modules.items()}
    assert import_circles(graph) == [], "modules that import each other, directly or round a circle"


def test_no_function_in_the_package_is_longer_than_80_lines():
    too_long = [
        f"{name}.{node.name}: {node.end_lineno - node.lineno + 1} lines"
        for name, tree in parsed_modules().items()
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > LONGEST_FUNCTION
    ]
    assert too_long == [], "split these so each reads on one screen"
