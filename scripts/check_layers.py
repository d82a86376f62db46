#!/usr/bin/env python3
"""Checks the includes of src/ against the layering table cmake/layers.txt.

Usage: scripts/check_layers.py [--root DIR] [--stamp FILE] | --self-test

Every `#include "m/..."` in src/<module>/ must name the module itself or one below it (the
closure of the table), unless the table's allow-list names that file and include. Fails (exit 1)
with file:line and the rule broken; also fails on a cycle in the table, on a cycle between modules
through includes that are not allow-listed, and on a folder of src/ the table lacks. Exit 2 on a
malformed table. Run by every build (target suanli_check_layers) and by the ctest `layers`.
"""

import argparse
import contextlib
import io
import pathlib
import re
import sys
import tempfile

INCLUDE = re.compile(r'^\s*#\s*include\s+"([A-Za-z0-9_]+)/([^"]+)"')


def bad_table(message):
    print(message, file=sys.stderr)
    sys.exit(2)


def read_table(path):
    """Returns ({module: [direct deps]}, {(file, include): line number}) from the table."""
    deps, allow = {}, {}
    try:
        text = path.read_text()
    except OSError as e:
        bad_table(f"{path}: cannot read the layering table: {e.strerror}")
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"{path}:{number}"
        if line.startswith("allow "):
            parts = line.split()
            if len(parts) != 3:
                bad_table(f"{where}: expected 'allow <file> <include>', got '{raw.strip()}'")
            allow[(parts[1], parts[2])] = number
            continue
        module, sep, rest = line.partition(":")
        if not sep or not re.fullmatch(r"[a-z0-9_]+", module.strip()):
            bad_table(f"{where}: expected 'module: modules it builds on', got '{raw.strip()}'")
        if module.strip() in deps:
            bad_table(f"{where}: module '{module.strip()}' listed twice")
        deps[module.strip()] = rest.split()
    for module, below in deps.items():
        for d in below:
            if d not in deps:
                bad_table(f"{path}: module '{module}' builds on '{d}', which has no line")
    return deps, allow


def find_cycle(graph):
    """A list of modules forming a cycle in {module: iterable of modules}, or None."""
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for d in sorted(graph.get(m, ())):
            if state.get(d) == "open":
                return stack[stack.index(d):] + [d]
            if d not in state:
                found = visit(d)
                if found:
                    return found
        stack.pop()
        state[m] = "done"
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def closure(deps, module):
    seen, todo = set(), list(deps[module])
    while todo:
        d = todo.pop()
        if d not in seen:
            seen.add(d)
            todo.extend(deps[d])
    return seen


def self_test():
    """Checks the checker on small trees: a clean one passes, an include against the table, an
    include cycle and a folder the table lacks fail with the place and the rule."""
    table = "core:\nreport: core\nharness: report\nmodel: harness\nallow src/core/a.h report/r.h\n"
    cases = [  # (files, expected exit status, text the output must hold)
        ({"core/a.h": "", "report/r.h": '#include "core/a.h"\n'}, 0, ""),
        ({"core/a.h": "", "report/r.h": '#include "model/m.h"\n', "model/m.h": ""}, 1,
         "src/report/r.h:1: includes \"model/m.h\": module 'report' may include only"),
        ({"core/a.h": '#include "report/r.h"\n', "report/r.h": '#include "core/a.h"\n'}, 0,
         "allow-listed include core -> report"),
        ({"core/b.h": '#include "harness/h.h"\n', "harness/h.h": '#include "core/b.h"\n'}, 1,
         "include cycle between modules: core -> harness"),
        ({"core/a.h": "", "extra/x.h": ""}, 1, "src/extra/: a module folder with no line"),
    ]
    failed = 0
    for files, status, text in cases:
        with tempfile.TemporaryDirectory() as root:
            (pathlib.Path(root) / "cmake").mkdir()
            (pathlib.Path(root) / "cmake" / "layers.txt").write_text(table)
            for name, content in files.items():
                path = pathlib.Path(root) / "src" / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(content)
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                got = check(pathlib.Path(root), None)
            if got != status or text not in err.getvalue():
                failed += 1
                print(f"self-test: {sorted(files)}: exit {got} (expected {status}), output:\n"
                      f"{err.getvalue()}(expected to contain: {text!r})", file=sys.stderr)
    print(f"check_layers self-test: {len(cases) - failed} of {len(cases)} cases right")
    return 1 if failed else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=pathlib.Path(__file__).resolve().parent.parent,
                        type=pathlib.Path, help="the source tree (default: this checkout)")
    parser.add_argument("--stamp", type=pathlib.Path, help="file to touch when the check passes")
    parser.add_argument("--self-test", action="store_true", help="check the checker, then exit")
    args = parser.parse_args()
    return self_test() if args.self_test else check(args.root, args.stamp)


def check(root, stamp):
    table = root / "cmake" / "layers.txt"
    deps, allow = read_table(table)
    errors = []

    cycle = find_cycle(deps)
    if cycle:
        errors.append(f"{table}: the table has a cycle: {' -> '.join(cycle)}")
    src = root / "src"
    for folder in sorted(p for p in src.iterdir() if p.is_dir()):
        if folder.name not in deps:
            errors.append(f"src/{folder.name}/: a module folder with no line in {table}")

    used_allow = set()
    edges = {m: set() for m in deps}  # module graph of the includes that are not allow-listed
    allowed_edges = set()
    for path in sorted(src.rglob("*")):
        if path.suffix not in (".h", ".hpp", ".cpp", ".cc", ".cu") or not path.is_file():
            continue
        rel = path.relative_to(root).as_posix()
        module = path.relative_to(src).parts[0]
        if module not in deps:
            continue
        may = closure(deps, module)
        for number, text in enumerate(path.read_text(errors="replace").splitlines(), 1):
            match = INCLUDE.match(text)
            if not match or match.group(1) not in deps:
                continue  # not a module include ("revision.h", a generated or local header)
            target = match.group(1)
            include = f"{target}/{match.group(2)}"
            if target == module:
                continue
            if (rel, include) in allow:
                used_allow.add((rel, include))
                allowed_edges.add((module, target))
                continue
            edges[module].add(target)
            if target not in may:
                below = " ".join(sorted(may)) or "nothing"
                errors.append(
                    f"{rel}:{number}: includes \"{include}\": module '{module}' may include only "
                    f"itself and the modules below it ({below}); '{target}' is not below "
                    f"'{module}' in {table.relative_to(root)}")

    cycle = find_cycle(edges)
    if cycle:
        errors.append("include cycle between modules: " + " -> ".join(cycle))
    for (rel, include), number in sorted(allow.items(), key=lambda kv: kv[1]):
        if (rel, include) not in used_allow:
            print(f"{table}:{number}: note: '{rel}' no longer includes '{include}': delete this "
                  "allow line", file=sys.stderr)
    for a, b in sorted(allowed_edges):
        print(f"note: allow-listed include {a} -> {b} (a known violation, see {table.name})",
              file=sys.stderr)

    if errors:
        for e in errors:
            print(e, file=sys.stderr)
        print(f"check_layers: {len(errors)} error(s)", file=sys.stderr)
        return 1
    if stamp:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text("ok\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
