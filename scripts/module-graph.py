#!/usr/bin/env python3
"""Import graph of src/: cycles between modules, and the pure core's imports.

Every file under src/ is a module. An edge A -> B means A's non-test code
names B through `use crate::…`, `use super::…` or an inline `crate::…` path;
a name re-exported by a façade (`pub use record::Outcome` in raffle.rs) is
followed to the module that defines it. `#[cfg(test)]` modules are left out.

Prints the strongly connected components with more than one module (import
cycles), then every import of a pure module that is not itself pure, and the
I/O crates or clock calls a pure module names. Exits 1 if there is any.

Usage: python3 scripts/module-graph.py [--edges]
"""

import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")

# The pure core: no tokio, no SQL, no HTTP, no clock, no files.
PURE = {
    "channel::login",
    "raffle::items",
    "raffle::draw",
    "raffle::slot",
    "raffle::record",
    "raffle::verify",
    "raffle::command",
    "raffle::odds",
    "presence::batch",
    "announce::announcement",
    "announce::render",
    "announce::chat_line",
    "announce::chat_text",
    "announce::chat_rate",
    "text",
    "catalog",
    "catalog::discord",
    "catalog::dashboard",
    "catalog::connect",
    "catalog::setup",
    "catalog::items",
    "channel::language",
}
# What a pure module must not name.
IO_MARKERS = re.compile(
    r"\b(tokio|tokio_postgres|deadpool_postgres|reqwest|warp|twitch_irc|oauth2|std::fs|"
    r"std::net|SystemTime|Instant::now|Utc::now|OsRng|thread_rng|rand::rng)\b"
)


def module_of(path):
    rel = os.path.relpath(path, ROOT)[:-3]
    if rel in ("lib", "main"):
        return "crate" if rel == "lib" else "main"
    return rel.replace(os.sep, "::")


def strip_tests(text):
    """Drops `#[cfg(test)]` items (a module or a single item) from the text."""
    out, i = [], 0
    lines = text.split("\n")
    while i < len(lines):
        if lines[i].strip() == "#[cfg(test)]":
            # Skip attributes, then the item up to its matching close brace
            # (or a `;` for a one-line item).
            i += 1
            while i < len(lines) and lines[i].strip().startswith("#["):
                i += 1
            depth, started = 0, False
            while i < len(lines):
                line = lines[i]
                depth += line.count("{") - line.count("}")
                started = started or "{" in line
                i += 1
                if (started and depth <= 0) or (not started and line.rstrip().endswith(";")):
                    break
            continue
        out.append(lines[i])
        i += 1
    return "\n".join(out)


def strip_comments(text):
    return "\n".join(re.sub(r"//.*$", "", line) for line in text.split("\n"))


files = {}
for directory, _, names in os.walk(ROOT):
    for name in names:
        if name.endswith(".rs"):
            path = os.path.join(directory, name)
            files[module_of(path)] = strip_comments(strip_tests(open(path, encoding="utf-8").read()))
modules = set(files)

# Façade re-exports: (module, name) -> defining module.
reexports = {}
for module, text in files.items():
    for match in re.finditer(r"pub(?:\(crate\))?\s+use\s+([a-z_:]+)::\{?([^;]*?)\}?;", text, re.S):
        base = match.group(1)
        target = base if module == "crate" else f"{module}::{base}"
        for name in re.split(r"[,\s]+", match.group(2)):
            name = name.strip()
            if name and name != "self":
                reexports[(module, name.split(" as ")[0])] = target


def resolve(segments):
    """The module a path of segments names, following façade re-exports."""
    best = None
    for k in range(len(segments), 0, -1):
        candidate = "::".join(segments[:k])
        if candidate in modules:
            best, rest = candidate, segments[k:]
            break
    if best is None:
        return None
    while rest and (best, rest[0]) in reexports:
        target = reexports[(best, rest[0])]
        if target not in modules or target == best:
            break
        best = target
    return best


def parent(module):
    return module.rsplit("::", 1)[0] if "::" in module else "crate"


def paths_in_use(tree):
    """Expands a use tree body such as `a::{b, c::{d, e}}` into segment lists."""
    tree = re.sub(r"\s+", "", tree)

    def expand(prefix, body):
        items, depth, current = [], 0, ""
        for ch in body:
            if ch == "," and depth == 0:
                items.append(current)
                current = ""
                continue
            depth += ch == "{"
            depth -= ch == "}"
            current += ch
        items.append(current)
        result = []
        for item in filter(None, items):
            if "{" in item:
                head, inner = item.split("{", 1)
                result += expand(prefix + [s for s in head.split("::") if s], inner[:-1])
            else:
                result.append(prefix + [s for s in item.split(" as ")[0].split("::") if s and s != "self"])
        return result

    return expand([], tree)


edges = {m: set() for m in modules}
for module, text in files.items():
    here = "crate" if module in ("crate", "main") else module
    for match in re.finditer(r"\buse\s+(crate|super|kinoyubot)::([^;]+);", text):
        root = {"crate": [], "kinoyubot": [], "super": parent(here).split("::")}[match.group(1)]
        root = [s for s in root if s != "crate"]
        for segments in paths_in_use(match.group(2)):
            target = resolve(root + segments)
            if target and target != module:
                edges[module].add(target)
    # Inline paths, outside `use` items (which were read above).
    for match in re.finditer(r"\bcrate::((?:[a-z_]+::)*[A-Za-z_]+)", re.sub(r"\buse\s+[^;]+;", "", text)):
        target = resolve(match.group(1).split("::"))
        if target and target != module:
            edges[module].add(target)

# Tarjan's strongly connected components.
index, low, on_stack, stack, sccs, counter = {}, {}, set(), [], [], [0]


def visit(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on_stack.add(v)
    for w in sorted(edges[v]):
        if w not in index:
            visit(w)
            low[v] = min(low[v], low[w])
        elif w in on_stack:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        component = []
        while True:
            w = stack.pop()
            on_stack.discard(w)
            component.append(w)
            if w == v:
                break
        sccs.append(component)


sys.setrecursionlimit(10000)
for v in sorted(modules):
    if v not in index:
        visit(v)

problems = impure = 0
cycles = [sorted(c) for c in sccs if len(c) > 1]
print(f"{len(modules)} modules, {sum(len(e) for e in edges.values())} import edges")
for cycle in cycles:
    problems += 1
    print("cycle:", " <-> ".join(cycle))
if not cycles:
    print("no import cycles between modules")
for module in sorted(PURE):
    for target in sorted(edges.get(module, ())):
        if target not in PURE:
            impure += 1
            print(f"pure {module} imports {target}, which is not pure")
    for marker in sorted(set(IO_MARKERS.findall(files.get(module, "")))):
        impure += 1
        print(f"pure {module} names {marker}")
if impure == 0:
    print(f"the {len(PURE)} pure modules import only pure modules and name no I/O")
problems += impure
if "--edges" in sys.argv:
    for module in sorted(modules):
        print(f"{module} -> {', '.join(sorted(edges[module]))}")
sys.exit(1 if problems else 0)
