#!/usr/bin/env python3
"""Checks the layering rules of docs/architecture.md in each crate's src directory given:

- no import cycle between its modules, neither between files nor between top-level modules.
  A module (a file) depends on another when its code names a path into it: `crate::m::...`,
  `super::m::...` or `self::m::...` (use trees included), or, from a parent, `child::...`;
- no file longer than MAX_LINES lines before its tests.

    scripts/check-layers.py src crates/ephemail-store/src crates/ephemail-mail/src
"""
import os
import re
import sys

MAX_LINES = 800
PATH_START = re.compile(r"\b(crate|super|self)(?=::)")
SEGMENTS = re.compile(r"((?:::[A-Za-z_][A-Za-z_0-9]*)*)(::\{)?")


def modules(root):
    """Module path (a tuple) -> file."""
    found = {}
    for directory, _, files in os.walk(root):
        for name in files:
            if name.endswith(".rs"):
                path = os.path.join(directory, name)
                parts = os.path.relpath(path, root)[:-3].split(os.sep)
                if parts[-1] in ("mod", "lib", "main"):
                    parts = parts[:-1]
                found[tuple(parts)] = path
    return found


def code_of(path):
    """The file's code before its tests, without comments."""
    text = open(path, encoding="utf-8").read()
    text = text.split("#[cfg(test)]")[0]
    return re.sub(r"//[^\n]*", "", text)


def named_paths(text, start):
    """Every path a use tree or path starting at `start` (after its first segment) names."""
    found = []

    def walk(prefix, rest):
        match = SEGMENTS.match(rest)
        segments = prefix + [s for s in match.group(1).split("::") if s]
        if not match.group(2):
            found.append(segments)
            return
        depth, item_start = 0, match.end()
        for i in range(match.end(), len(rest)):
            if rest[i] == "{":
                depth += 1
            elif rest[i] == "}" and depth > 0:
                depth -= 1
            elif rest[i] in ",}" and depth == 0:
                item = rest[item_start:i].strip()
                if item:
                    walk(segments, "::" + item)
                if rest[i] == "}":
                    return
                item_start = i + 1

    walk([], text[start : start + 2000])
    return found


def dependencies(mods):
    edges = {module: set() for module in mods}
    for module, path in mods.items():
        code = code_of(path)
        for match in PATH_START.finditer(code):
            kind = match.group(1)
            base = [] if kind == "crate" else list(module[:-1] if kind == "super" else module)
            for segments in named_paths(code, match.end()):
                full = [s for s in base + segments if s != "self"]
                target = next(
                    (tuple(full[:n]) for n in range(len(full), 0, -1) if tuple(full[:n]) in mods),
                    None,
                )
                # `use super::*` in a child, or naming the parent module itself, is containment.
                if target and target != module and not (module[: len(target)] == target and len(full) == len(target)):
                    edges[module].add(target)
        declarations = re.sub(r"(?m)^\s*(pub(\([a-z]+\))?\s+)?mod\s+\w+;", "", code)
        for child in mods:
            if len(child) == len(module) + 1 and child[:-1] == module:
                if re.search(r"(?<![:\w])" + re.escape(child[-1]) + r"::", declarations):
                    edges[module].add(child)
    return edges


def cycles(edges, level):
    graph = {}
    for source, targets in edges.items():
        graph.setdefault(source[:level], set())
        for target in targets:
            if source[:level] != target[:level]:
                graph[source[:level]].add(target[:level])
                graph.setdefault(target[:level], set())
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted("::".join(m) or "<crate root>" for m in component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def main(roots):
    problems = []
    for root in roots:
        mods = modules(root)
        edges = dependencies(mods)
        for level, what in ((99, "files"), (1, "top-level modules")):
            for component in cycles(edges, level):
                problems.append(f"{root}: import cycle between {what}: {', '.join(component)}")
        for path in sorted(mods.values()):
            with open(path, encoding="utf-8") as file:
                lines = file.read().split("#[cfg(test)]")[0].count("\n")
            if lines > MAX_LINES:
                problems.append(f"{path}: {lines} lines before its tests (at most {MAX_LINES})")
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
