#!/usr/bin/env python3
"""Checks that the UML diagrams in docs/uml/ still describe the code.

usage: check_uml_names.py SOURCE_ROOT

Every name a diagram gives to code must still exist in the C sources
(server/, client/, common/, include/), and every rendered SVG must
have been drawn from its .puml source as it is now.

What counts as "a name the diagram claims is code" (comments in the
.puml, lines starting with ' or inside /' ... '/, are skipped):

  1. a word written as a call, name( ... : conn_read_cb(fd, EV_READ, c)
  2. the word after struct, enum or union: struct evs_service
  3. any word with an underscore in it: EVS_FRAMING_LINE, chat_line
  4. the words of a member access written without spaces: c->svc->data
  5. in a class diagram, the name of each class, struct, enum or
     interface declared without quotes, and every word of each member
     line in its body (fields, functions and enum values; separators
     such as "-- callbacks --" and "quoted strings" are skipped)
  6. a file name ending in .c or .h: a path from the top of the tree
     (server/conn.c, examples/upper.c), or a name alone that a file in
     the source directories has (conn.c)

A word passes when it appears as an identifier in the C sources
outside comments and string literals.  So prose stays free of
underscores and of name() forms that are not code; a PlantUML alias
must not contain an underscore; and PlantUML arrows keep spaces around
them (a -> b), which is how all the diagrams here are written.

The SVG check reads the stamp that docs/uml/render.py writes into each
SVG (the SHA-256 of the .puml it was drawn from) and fails when a
diagram has no SVG or its SVG is older than its source.
"""

import hashlib
import os
import re
import sys

CODE_DIRS = ("server", "client", "common", "include")
UML_DIR = os.path.join("docs", "uml")
STAMP = re.compile(r"<!-- evsock-uml source-sha256=([0-9a-f]{64}) -->")

C_TOKENS = re.compile(
    r"""
      /\*.*?\*/                  # block comment
    | //[^\n]*                   # line comment
    | "(?:\\.|[^"\\\n])*"        # string literal
    | '(?:\\.|[^'\\\n])*'        # character literal
    | ([A-Za-z_][A-Za-z0-9_]*)   # identifier or keyword
    """,
    re.S | re.X,
)

WORD = r"[A-Za-z_][A-Za-z0-9_]*"
FILE_NAME = re.compile(r"(?<![\w./-])((?:[\w.-]+/)*[\w-]+\.[ch])(?![\w.])")
CALL = re.compile(r"(" + WORD + r")\(")
TAGGED = re.compile(r"\b(?:struct|enum|union)\s+(" + WORD + r")")
ACCESS = re.compile(WORD + r"(?:->" + WORD + r")+")
ANY_WORD = re.compile(WORD)
QUOTED = re.compile(r'"[^"]*"')
DECL = re.compile(
    r"^\s*(?:abstract\s+class|abstract|class|struct|enum|interface|entity)"
    r"\s+(\"[^\"]*\"|" + WORD + r")(.*)$")
SEPARATOR = re.compile(r"^\s*(--|\.\.|==|__)")
MODIFIER = re.compile(r"\{(?:static|abstract|field|method|classifier)\}")
# PlantUML's line breaks (\n, \l, \r) and an escaped backslash before them.
BREAK = re.compile(r"\\+[nlr]")


def code_identifiers(root):
    """Returns the identifiers of the C sources and their file names."""
    names, files = set(), set()
    for d in CODE_DIRS:
        for dirpath, _, filenames in os.walk(os.path.join(root, d)):
            for fn in filenames:
                if not fn.endswith((".c", ".h")):
                    continue
                path = os.path.join(dirpath, fn)
                files.add(fn)
                files.add(os.path.relpath(path, root).replace(os.sep, "/"))
                with open(path, encoding="utf-8", errors="replace") as f:
                    for m in C_TOKENS.finditer(f.read()):
                        if m.group(1):
                            names.add(m.group(1))
    return names, files


def diagram_lines(text):
    """Yields (line number, line) for the lines that are not comments."""
    in_comment = False
    for no, line in enumerate(text.splitlines(), 1):
        if in_comment:
            if "'/" in line:
                in_comment = False
                line = line.split("'/", 1)[1]
            else:
                continue
        if line.lstrip().startswith("/'"):
            rest = line.split("/'", 1)[1]
            if "'/" not in rest:
                in_comment = True
                continue
            line = rest.split("'/", 1)[1]
        if line.lstrip().startswith("'"):
            continue
        yield no, BREAK.sub(" ", line)


def claimed_names(text):
    """Yields (line number, kind, name) for every name claimed as code."""
    depth = 0  # inside a class body
    skin = 0   # inside a skinparam { } block
    for no, line in diagram_lines(text):
        stripped = line.strip()
        if skin:
            skin += stripped.count("{") - stripped.count("}")
            continue
        if stripped.startswith("skinparam"):
            skin = stripped.count("{") - stripped.count("}")
            continue
        if stripped.startswith(("!", "@start", "@end")):
            continue

        # Rule 6 first: file names are taken out of the line, so that
        # test_line.c is not read as the word test_line.
        for m in FILE_NAME.finditer(line):
            yield no, "file", m.group(1)
        rest = FILE_NAME.sub(" ", line)

        if depth > 0:
            depth += stripped.count("{") - stripped.count("}")
            if depth <= 0:
                depth = 0
                rest = rest.split("}", 1)[0]
            if not SEPARATOR.match(rest) and rest.strip():
                member = QUOTED.sub(" ", MODIFIER.sub(" ", rest))
                for w in ANY_WORD.findall(member):
                    yield no, "member", w
            continue

        decl = DECL.match(rest)
        if decl is not None:
            name = decl.group(1)
            if not name.startswith('"'):
                yield no, "type", name
            if "{" in decl.group(2):
                depth = decl.group(2).count("{") - decl.group(2).count("}")

        for m in CALL.finditer(rest):
            yield no, "function", m.group(1)
        for m in TAGGED.finditer(rest):
            yield no, "type", m.group(1)
        for m in ACCESS.finditer(rest):
            for w in m.group(0).split("->"):
                yield no, "field", w
        for w in ANY_WORD.findall(rest):
            if "_" in w.strip("_") and any(ch.isalpha() for ch in w):
                yield no, "name", w


def check_names(root, pumls, names, files):
    missing = []
    for path in pumls:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        seen = set()
        for no, kind, name in claimed_names(text):
            if kind == "file":
                ok = name in files or os.path.isfile(
                    os.path.join(root, name))
            else:
                ok = name in names
            if ok or (no, name) in seen:
                continue
            seen.add((no, name))
            missing.append("%s:%d: %s %s" % (
                os.path.relpath(path, root), no, kind, name))
    return missing


def check_svgs(root, pumls):
    stale = []
    for path in pumls:
        svg = path[:-len(".puml")] + ".svg"
        rel = os.path.relpath(svg, root)
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        if not os.path.exists(svg):
            stale.append("%s: missing" % rel)
            continue
        with open(svg, encoding="utf-8", errors="replace") as f:
            m = STAMP.search(f.read())
        if m is None:
            stale.append("%s: not drawn by docs/uml/render.py" % rel)
        elif m.group(1) != digest:
            stale.append("%s: drawn from an older %s" % (
                rel, os.path.basename(path)))
    return stale


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: check_uml_names.py SOURCE_ROOT\n")
        return 2
    root = os.path.abspath(argv[1])
    uml = os.path.join(root, UML_DIR)
    pumls = sorted(os.path.join(uml, fn) for fn in os.listdir(uml)
                   if fn.endswith(".puml")) if os.path.isdir(uml) else []
    if not pumls:
        sys.stderr.write("check_uml_names: no .puml files in %s\n" % uml)
        return 1
    names, files = code_identifiers(root)
    if not names:
        sys.stderr.write("check_uml_names: no C sources under %s\n" % root)
        return 1

    status = 0
    missing = check_names(root, pumls, names, files)
    if missing:
        status = 1
        print("UML diagrams name code that no longer exists in %s:" %
              ", ".join(d + "/" for d in CODE_DIRS))
        for line in missing:
            print("  " + line)
        print("Rename them in the diagram to what the code says now "
              "(a PlantUML alias must not contain '_', and arrows need "
              "spaces around them).")
    stale = check_svgs(root, pumls)
    if stale:
        status = 1
        print("UML pictures out of date with their sources:")
        for line in stale:
            print("  " + line)
        print("Redraw them with: meson compile -C build docs")
    if status == 0:
        print("%d diagrams: every code name exists; every SVG is current"
              % len(pumls))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
