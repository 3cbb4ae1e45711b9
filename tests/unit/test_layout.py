"""The package's floors: a stage imports only stages below it (and its own), and no module
imports another that imports it back; a newcomer reads the tree bottom to top."""

import ast
from pathlib import Path

import egfrmet

PACKAGE = Path(egfrmet.__file__).parent
# bottom to top; a module may import its own floor and those below
FLOORS = [
    {"errors", "paths", "metrics", "methods", "arguments", "io", "cards"},
    {"config"},
    {"cohort"},
    {"preprocessing"},
    {"baselines"},
    {"training"},
    {"inference"},
    {"evaluation"},
    {"explain"},
    {"demo"},
    {"cli", "__main__", "__init__"},
]


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        yield ".".join(("egfrmet",) + parts).removesuffix(".__init__"), path


def imports(path):
    """Every egfrmet module `path` imports, at the top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            known = {name for name, _ in modules()}
            names |= {
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module for a in node.names
            }
    return {name for name in names if name.split(".")[0] == "egfrmet" and name != "egfrmet"}


KNOWN = {name for name, _ in modules()}


def floor(module):
    top = module.split(".")[1] if "." in module else "__init__"
    (level,) = [i for i, names in enumerate(FLOORS) if top in names]
    return level


def test_every_module_has_a_floor_and_imports_none_above_it():
    upward = [
        f"{module} (floor {floor(module)}) imports {name} (floor {floor(name)})"
        for module, path in modules()
        for name in imports(path)
        if floor(name) > floor(module)
    ]
    assert not upward, "\n".join(upward)


def test_no_module_imports_one_that_imports_it_back():
    graph = {module: imports(path) for module, path in modules()}

    def reaches(start, goal, seen):
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in graph.get(start, ()))

    cycles = [module for module in graph if reaches(module, module, {module})]
    assert not cycles, f"in a cycle: {cycles}"


def test_the_scan_of_imports_sees_function_level_and_module_imports():
    """The floors test would pass vacuously if the scan missed imports."""
    predict = imports(PACKAGE / "inference" / "predict.py")
    assert {"egfrmet.training.networks", "egfrmet.baselines.deploy", "egfrmet.metrics"} <= predict
    assert "egfrmet.training.model" in imports(PACKAGE / "inference" / "scoring.py")  # inside a function
