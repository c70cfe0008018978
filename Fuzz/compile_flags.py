#!/usr/bin/env python3
"""Prints a swiftc response file (one quoted argument a line) that compile GatewayCore's sources into the fuzzer.

Read from SwiftPM's own build description (`<bin-path>/description.json`, written by `swift build`):
GatewayCore's compiler flags (module maps of the C dependencies, defines, swift version) and the object
files of every target GatewayCore depends on, so the fuzzer links the dependencies exactly as the debug
build compiled them (uninstrumented) and only our own code carries the sanitizers.

Usage: compile_flags.py BIN_PATH MODULE_CACHE
"""
import glob
import json
import os
import sys

TARGET = "GatewayCore"

# Flags of SwiftPM's incremental build that a one-shot compile of the fuzzer does not want; the optimisation
# level and module cache are the fuzzer's own.
DROPPED = {"-incremental", "-enable-batch-mode", "-serialize-diagnostics", "-parseable-output",
           "-emit-objc-header", "-enable-testing", "-Onone", "-O", "-Osize", "-Ounchecked",
           "-whole-module-optimization", "-wmo", "-no-whole-module-optimization"}
DROPPED_WITH_VALUE = {"-index-store-path", "-emit-objc-header-path", "-module-cache-path", "-output-file-map"}


def main() -> None:
    bin_path, module_cache = sys.argv[1], sys.argv[2]
    with open(os.path.join(bin_path, "description.json")) as f:
        description = json.load(f)
    commands = [c for c in description["swiftCommands"].values() if c.get("moduleName") == TARGET]
    if len(commands) != 1:
        sys.exit(f"compile_flags.py: no single {TARGET} compile command in {bin_path}/description.json")
    command = commands[0]

    args = []
    other = iter(command["otherArguments"])
    for arg in other:
        if arg in DROPPED:
            continue
        if arg in DROPPED_WITH_VALUE:
            next(other, None)
            continue
        args.append(arg)
    args += ["-I", command["importPath"], "-module-cache-path", module_cache]

    objects = []
    for dependency in description["targetDependencyMap"][TARGET]:
        found = sorted(glob.glob(os.path.join(bin_path, dependency + ".build", "**", "*.o"), recursive=True))
        objects += found
    if not objects:
        sys.exit(f"compile_flags.py: no dependency objects under {bin_path}: run `swift build` first")
    # Swift targets must have been compiled; C targets without objects are system libraries (CCurl, GRDBSQLite),
    # linked through their module maps' `link` lines.
    swift_modules = {c.get("moduleName") for c in description["swiftCommands"].values()}
    missing = [d for d in description["targetDependencyMap"][TARGET]
               if d in swift_modules and not glob.glob(os.path.join(bin_path, d + ".build", "*.o"))]
    if missing:
        sys.exit(f"compile_flags.py: not built yet: {', '.join(missing)}: run `swift build` first")
    args += objects
    # A response file for swiftc: one argument a line, quoted (some object files have spaces in their names).
    print("\n".join('"' + a.replace("\\", "\\\\").replace('"', '\\"') + '"' for a in args))


if __name__ == "__main__":
    main()
