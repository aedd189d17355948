#!/usr/bin/env python3
"""Draws the UML diagrams: each docs/uml/NAME.puml to NAME.svg beside it.

usage: render.py --plantuml PATH [--dot PATH] FILE.puml...

Run through `meson compile -C build docs`.  PlantUML needs Graphviz's
dot for every kind of diagram here but the sequence diagrams.  Each SVG
is stamped with the SHA-256 of the source it was drawn from, which
tests/check_uml_names.py compares to tell a stale picture.

PlantUML writes an error picture and still exits 0 when dot is missing
or fails, so the SVGs are read back: one that shows an error fails the
run and the SVG that was there before is put back.
"""

import argparse
import hashlib
import os
import subprocess
import sys

STAMP = "<!-- evsock-uml source-sha256=%s -->"
# Text PlantUML draws instead of the diagram when it cannot lay it out.
ERROR_MARKS = ("Cannot run program", "Dot Executable", "Syntax Error",
               "An error has occured")


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--plantuml", required=True)
    ap.add_argument("--dot", default="")
    ap.add_argument("sources", nargs="+")
    args = ap.parse_args(argv[1:])

    sources = [os.path.abspath(s) for s in args.sources]
    # PlantUML overwrites the SVGs; a failed redraw puts the old back.
    before = {}
    for src in sources:
        svg = os.path.splitext(src)[0] + ".svg"
        if os.path.exists(svg):
            with open(svg, "rb") as f:
                before[svg] = f.read()
    cmd = [args.plantuml, "-tsvg", "-nometadata", "-failfast2",
           "-charset", "UTF-8"]
    if args.dot:
        cmd += ["-graphvizdot", args.dot]
    rc = subprocess.call(cmd + sources)
    if rc != 0:
        for svg, data in before.items():
            with open(svg, "wb") as f:
                f.write(data)
        sys.stderr.write("docs: plantuml failed (exit %d)\n" % rc)
        return 1

    failed = []
    for src in sources:
        svg = os.path.splitext(src)[0] + ".svg"
        try:
            with open(svg, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            failed.append("%s: %s" % (svg, e.strerror))
            continue
        if any(mark in text for mark in ERROR_MARKS) or "</svg>" not in text:
            failed.append("%s: PlantUML drew an error, not the diagram"
                          % os.path.basename(svg))
            if svg in before:
                with open(svg, "wb") as f:
                    f.write(before[svg])
            else:
                os.remove(svg)
            continue
        with open(src, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        head, sep, tail = text.rpartition("</svg>")
        text = head + STAMP % digest + sep + tail
        if not text.endswith("\n"):
            text += "\n"
        with open(svg, "w", encoding="utf-8") as f:
            f.write(text)
        print("docs: %s" % os.path.relpath(svg))
    if failed:
        for line in failed:
            sys.stderr.write("docs: %s\n" % line)
        if not args.dot:
            sys.stderr.write("docs: Graphviz's dot was not found; install "
                             "graphviz (apt-get install graphviz)\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
