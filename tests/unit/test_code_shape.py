"""The package's shape stays changeable: no import circle, no function too long to read, no call whose arguments
are told apart by position alone, and a top level short enough to be a table of contents.

Both are read from the source with `ast`, so an import inside a function counts as much as one at the top.
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "hf_seqlen"
LONGEST_FUNCTION = 80
MOST_POSITIONAL_ARGUMENTS = 6
MOST_TOP_LEVEL_MODULES = 12
# C functions called through ctypes take no keywords: espeak_Synth(text, size, position, type, end, flags, ...)
POSITIONAL_ONLY_CALLS = {"library.espeak_Synth"}


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


def calls_with_many_positional_arguments(tree: ast.AST) -> list[str]:
    return [
        f"line {node.lineno}: {ast.unparse(node.func)} with {len(node.args)}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and len(node.args) > MOST_POSITIONAL_ARGUMENTS
        and ast.unparse(node.func) not in POSITIONAL_ONLY_CALLS
    ]


def test_the_positional_argument_check_finds_a_long_call_and_spares_keywords():
    tree = ast.parse(
        "f(1, 2, 3, 4, 5, 6, 7)\ng(1, 2, 3, 4, 5, 6, seven=7)\nlibrary.espeak_Synth(1, 2, 3, 4, 5, 6, 7, 8)\n"
    )
    assert calls_with_many_positional_arguments(tree) == ["line 1: f with 7"]


def test_no_call_in_the_package_passes_more_than_6_arguments_by_position():
    found = {
        name: calls for name, tree in parsed_modules().items() if (calls := calls_with_many_positional_arguments(tree))
    }
    assert found == {}, "pass these by keyword, or group the arguments that belong together"


def test_the_package_top_level_holds_at_most_12_modules_and_the_two_main_folders():
    modules = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(modules) <= MOST_TOP_LEVEL_MODULES, modules
    for folder in ("pretrain", "study"):
        assert (PACKAGE / folder / "__init__.py").is_file(), folder
