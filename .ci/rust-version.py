#!/usr/bin/env python3
"""Checks that the workspace's rust-version is what the locked dependencies need.

The workspace's `rust-version` must equal the highest `rust-version` among the packages
that build on Linux for the workspace: the members' normal, build and dev dependencies
and, through them, every normal and build dependency (cfg(loom) and Windows-only ones are
left out by `cargo metadata --filter-platform`). Lower, and a user's older toolchain fails
in a dependency; higher, and the workspace claims a need it does not have.
"""
import json
import subprocess
import sys


def version_key(v):
    return tuple(int(p) for p in v.split("."))


def main():
    host = next(
        line.split(":", 1)[1].strip()
        for line in subprocess.run(
            ["rustc", "-vV"], check=True, capture_output=True, text=True
        ).stdout.splitlines()
        if line.startswith("host:")
    )
    if "linux" not in host:
        sys.exit(f"rust-version check: run on Linux (host is {host})")
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked",
             "--filter-platform", host],
            check=True, capture_output=True, text=True,
        ).stdout
    )
    packages = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    members = set(meta["workspace_members"])
    declared = {packages[m]["rust_version"] for m in members}
    if len(declared) != 1 or None in declared:
        sys.exit(f"rust-version check: the members declare {sorted(map(str, declared))}; "
                 "every package must inherit the workspace's")
    (workspace,) = declared

    seen, todo = set(), list(members)
    while todo:
        pid = todo.pop()
        for dep in nodes[pid]["deps"]:
            kinds = {k["kind"] for k in dep["dep_kinds"]}
            wanted = {None, "build"} | ({"dev"} if pid in members else set())
            if kinds & wanted and dep["pkg"] not in seen and dep["pkg"] not in members:
                seen.add(dep["pkg"])
                todo.append(dep["pkg"])

    needs = [(packages[p]["rust_version"], packages[p]["name"], packages[p]["version"])
             for p in seen if packages[p]["rust_version"]]
    highest = max(version_key(v) for v, _, _ in needs)
    top = sorted(f"{n} {ver}" for v, n, ver in needs if version_key(v) == highest)
    highest_s = ".".join(map(str, highest))
    print(f"rust-version: workspace {workspace}; highest among {len(seen)} locked Linux "
          f"dependencies {highest_s} ({', '.join(top)})")
    if version_key(workspace) != highest:
        sys.exit(f"rust-version check FAILED: the workspace says {workspace} but the locked "
                 f"dependencies need {highest_s} ({', '.join(top)}): set "
                 f"[workspace.package] rust-version = \"{highest_s}\"")


if __name__ == "__main__":
    main()
