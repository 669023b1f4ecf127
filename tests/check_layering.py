#!/usr/bin/python3
"""Fails when a library reaches above its layer: base <- capture <- proxy, sink <- cli.

Checks both what each library's sources include and what its CMake target links, so a
shortcut through either shows up here rather than as a tangle found much later."""
import pathlib
import re
import sys

# Each layer and the project libraries it may use (itself included).
ALLOWED = {
    "base": {"base"},
    "capture": {"base", "capture"},
    "proxy": {"base", "capture", "proxy"},
    "sink": {"base", "capture", "sink"},
    "cli": {"base", "capture", "proxy", "sink", "cli"},
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"(\w+)/', re.M)
LINK = re.compile(r"target_link_libraries\(\s*mcptap_(\w+)([^)]*)\)", re.S)


def violations(root):
    found = []
    for layer, allowed in ALLOWED.items():
        for source in sorted((root / layer).glob("*")):
            if source.suffix not in (".h", ".cpp"):
                continue
            for used in INCLUDE.findall(source.read_text()):
                if used in ALLOWED and used not in allowed:
                    found.append(f"{source.relative_to(root)} includes {used}/")
        cmake = (root / layer / "CMakeLists.txt").read_text()
        for target, libraries in LINK.findall(cmake):
            for used in re.findall(r"\bmcptap_(\w+)", libraries):
                if used in ALLOWED and used not in ALLOWED.get(target, set()):
                    found.append(f"{layer}/CMakeLists.txt: mcptap_{target} links mcptap_{used}")
    return found


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).parents[1])
    found = violations(root)
    for line in found:
        print(f"layering: {line}", file=sys.stderr)
    if found:
        print("layering: base <- capture <- proxy, sink <- cli; a lower layer never uses a higher one",
              file=sys.stderr)
        return 1
    print(f"layering: {', '.join(ALLOWED)} respect base <- capture <- proxy, sink <- cli")
    return 0


if __name__ == "__main__":
    sys.exit(main())
