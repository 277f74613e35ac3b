#!/usr/bin/env python3
"""Checks rendered fleetplan manifests against the real binaries and the deployment policy.

Usage: check_manifests.py --bin-dir DIR [--require-binaries] RENDERED.yaml...

Flags. Every container whose image is fleet-planner, fleet-agent or planner-cli is run as
`BIN <command[1:]> <args> <env as flags> --help` with an empty environment. clap rejects an
unknown flag or a bad value before it prints help, so exit 0 means the manifest's flags parse.
Each env var the manifest sets for the container must appear in the binary's help as
`[env: NAME...]`; where its value is known (a literal, a generated ConfigMap or Secret, a
downward-API placeholder) it is also passed as the flag that help names for it, so clap parses
the value too. Env vars that only feed `$(NAME)` references in other env vars or args (e.g.
HOST_IP) are helpers and are not checked against the binary.

Policy. Containers of the three images run as a numeric non-root user with a read-only root
filesystem, no privilege escalation, all capabilities dropped, and requests and limits set;
fleet-agent requests no GPU; llama-server runs with --metrics; the planner's Service speaks
h2c on 50051 and its probes are native grpc probes on the named health entries.

Exit status 0 when everything passed, 1 on any failure (each is printed).
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

BINARIES = ("fleet-planner", "fleet-agent", "planner-cli")
POD_KINDS = {
    "Pod": lambda d: d["spec"],
    "Deployment": lambda d: d["spec"]["template"]["spec"],
    "StatefulSet": lambda d: d["spec"]["template"]["spec"],
    "DaemonSet": lambda d: d["spec"]["template"]["spec"],
    "ReplicaSet": lambda d: d["spec"]["template"]["spec"],
    "Job": lambda d: d["spec"]["template"]["spec"],
    "CronJob": lambda d: d["spec"]["jobTemplate"]["spec"]["template"]["spec"],
}
# Stand-ins for downward-API values, so that flags built from them can be parsed.
FIELD_PLACEHOLDERS = {
    "spec.nodeName": "gpu-node-1",
    "metadata.name": "pod-1",
    "metadata.namespace": "fleetplan",
    "metadata.uid": "00000000-0000-0000-0000-000000000000",
    "status.hostIP": "10.0.0.1",
    "status.podIP": "10.0.0.2",
    "spec.serviceAccountName": "default",
}
REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
# A clap help entry starts with the flag: "  -o, --output <OUTPUT>" or "      --listen <LISTEN>".
HELP_ENTRY = re.compile(r"^\s{2,}(?:-[A-Za-z0-9], )?--([A-Za-z0-9][A-Za-z0-9-]*)(?:[ =](<[^>]+>))?")


class Checker:
    def __init__(self, bin_dir: Path, require_binaries: bool) -> None:
        self.bin_dir = bin_dir
        self.require_binaries = require_binaries
        self.failures: list[str] = []
        self.checked: dict[str, int] = {name: 0 for name in BINARIES}
        self.skipped: set[str] = set()
        self.help_cache: dict[tuple[str, ...], tuple[int, str]] = {}

    def fail(self, where: str, message: str) -> None:
        self.failures.append(f"{where}: {message}")
        print(f"FAIL {where}: {message}")

    # ---- running the binaries --------------------------------------------------------------

    def run_help(self, binary: str, argv: list[str]) -> tuple[int, str]:
        key = (binary, *argv)
        if key not in self.help_cache:
            with tempfile.TemporaryDirectory(prefix="fleetplan-flagcheck-") as home:
                # An empty environment: no stray PLANNER_*/AGENT_* from the CI machine, and help
                # prints `[env: NAME=]` without a value.
                env = {"HOME": home, "XDG_DATA_HOME": home, "PATH": "/usr/bin:/bin"}
                try:
                    proc = subprocess.run(
                        [str(self.bin_dir / binary), *argv, "--help"],
                        env=env,
                        capture_output=True,
                        text=True,
                        timeout=30,
                        stdin=subprocess.DEVNULL,
                    )
                    self.help_cache[key] = (proc.returncode, proc.stdout + proc.stderr)
                except subprocess.TimeoutExpired:
                    self.help_cache[key] = (124, "timed out after 30 s")
        return self.help_cache[key]

    @staticmethod
    def help_env(help_text: str) -> dict[str, tuple[str, bool]]:
        """Maps each env var named in clap help to (long flag, takes a value)."""
        mapping: dict[str, tuple[str, bool]] = {}
        current: tuple[str, bool] | None = None
        for line in help_text.splitlines():
            entry = HELP_ENTRY.match(line)
            if entry:
                current = (entry.group(1), entry.group(2) is not None)
            for name in re.findall(r"\[env: ([A-Za-z_][A-Za-z0-9_]*)", line):
                if current is not None:
                    mapping[name] = current
        return mapping

    # ---- resolving env ---------------------------------------------------------------------

    def resolve_env(self, where: str, container: dict, namespace: str, index: dict):
        """Returns [(name, value or None, is_literal_source)] in Kubernetes order."""
        resolved: list[tuple[str, str | None]] = []
        known: dict[str, str | None] = {}

        def expand(text: str) -> str:
            return REF.sub(lambda m: known.get(m.group(1)) or m.group(0), text)

        for source in container.get("envFrom", []) or []:
            prefix = source.get("prefix", "")
            if "configMapRef" in source:
                kind, ref = "ConfigMap", source["configMapRef"]
            else:
                kind, ref = "Secret", source["secretRef"]
            data = index.get((kind, namespace, ref["name"]))
            if data is None:
                if kind == "ConfigMap" and not ref.get("optional"):
                    self.fail(where, f"envFrom {kind} {ref['name']} is not in the rendered manifests")
                else:
                    print(f"note {where}: envFrom {kind} {ref['name']} is created outside the manifests; its keys are not checked")
                continue
            for key, value in data.items():
                resolved.append((prefix + key, value))
                known[prefix + key] = value
        for item in container.get("env", []) or []:
            name = item["name"]
            value: str | None
            if "value" in item:
                value = expand(str(item["value"]))
            elif "valueFrom" in item:
                source = item["valueFrom"]
                if "fieldRef" in source:
                    value = FIELD_PLACEHOLDERS.get(source["fieldRef"]["fieldPath"])
                elif "configMapKeyRef" in source or "secretKeyRef" in source:
                    kind = "ConfigMap" if "configMapKeyRef" in source else "Secret"
                    ref = source.get("configMapKeyRef") or source.get("secretKeyRef")
                    data = index.get((kind, namespace, ref["name"]))
                    value = None if data is None else data.get(ref["key"])
                    if data is not None and value is None:
                        self.fail(where, f"env {name}: key {ref['key']} is not in {kind} {ref['name']}")
                    if data is None:
                        print(f"note {where}: env {name} comes from {kind} {ref['name']}, created outside the manifests; only its name is checked")
                else:
                    value = None
            else:
                value = ""
            resolved.append((name, value))
            known[name] = value
        return resolved, expand

    # ---- one container ---------------------------------------------------------------------

    def check_flags(self, where: str, binary: str, container: dict, namespace: str, index: dict) -> None:
        failures_before = len(self.failures)
        command = container.get("command") or []
        if command and os.path.basename(command[0]) != binary:
            self.fail(where, f"command {command[0]!r} does not run {binary}")
            return
        env, expand = self.resolve_env(where, container, namespace, index)
        referenced = set()
        for text in [*(container.get("args") or []), *command, *(str(i.get("value", "")) for i in container.get("env", []) or [])]:
            referenced.update(REF.findall(str(text)))
        argv = [expand(str(a)) for a in [*command[1:], *(container.get("args") or [])]]
        unresolved = [a for a in argv if REF.search(a)]
        if unresolved:
            self.fail(where, f"args reference undefined env vars: {unresolved}")

        if not (self.bin_dir / binary).is_file():
            if self.require_binaries:
                self.fail(where, f"{self.bin_dir / binary} is not built (cargo build -p {binary})")
            elif binary not in self.skipped:
                self.skipped.add(binary)
                print(f"SKIP {binary}: {self.bin_dir / binary} is not built; its flags are not checked (--require-binaries makes this a failure)")
            return

        rc, out = self.run_help(binary, argv)
        if rc != 0:
            self.fail(where, f"`{binary} {' '.join(argv)} --help` exited {rc}: {out.strip()[:600]}")
            return
        _, top = self.run_help(binary, [])
        here_env = self.help_env(out)
        top_env = self.help_env(top)
        used_flags = {a.split("=", 1)[0].lstrip("-") for a in argv if a.startswith("--")}
        front: list[str] = []
        back: list[str] = []
        env_names = []
        for name, value in env:
            if name in referenced and name not in here_env and name not in top_env:
                continue  # a helper for $(NAME) references, not read by the binary
            env_names.append(name)
            if name in here_env:
                (flag, takes_value), target = here_env[name], back
            elif name in top_env:
                (flag, takes_value), target = top_env[name], front
            else:
                self.fail(where, f"env {name} is not read by {binary} (no `[env: {name}` in its --help)")
                continue
            if value is None or flag in used_flags:
                continue
            if takes_value:
                target.append(f"--{flag}={value}")
            elif value.lower() in ("true", "1", "yes", "on"):
                target.append(f"--{flag}")
        if front or back:
            with_env = [*front, *argv, *back]
            rc, out = self.run_help(binary, with_env)
            if rc != 0:
                self.fail(where, f"env values rejected: `{binary} {' '.join(with_env)} --help` exited {rc}: {out.strip()[:600]}")
                return
        if len(self.failures) != failures_before:
            return
        self.checked[binary] += 1
        print(f"ok   {where}: {binary} {' '.join(argv)}" + (f" (+ env {', '.join(env_names)})" if env_names else ""))

    def check_policy(self, where: str, binary: str | None, image: str, container: dict, pod: dict) -> None:
        pod_sc = pod.get("securityContext") or {}
        sc = container.get("securityContext") or {}
        resources = container.get("resources") or {}
        if binary is not None:
            user = sc.get("runAsUser", pod_sc.get("runAsUser"))
            if not (sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True and isinstance(user, int) and user > 0):
                self.fail(where, "must run as a numeric non-root user (runAsNonRoot: true and runAsUser > 0)")
            if sc.get("readOnlyRootFilesystem") is not True:
                self.fail(where, "readOnlyRootFilesystem must be true")
            if sc.get("allowPrivilegeEscalation") is not False:
                self.fail(where, "allowPrivilegeEscalation must be false")
            if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                self.fail(where, "capabilities must drop ALL")
            if not resources.get("requests") or not resources.get("limits"):
                self.fail(where, "resources.requests and resources.limits must be set")
        if binary == "fleet-agent":
            for section in ("requests", "limits"):
                gpus = [k for k in (resources.get(section) or {}) if k.endswith("/gpu")]
                if gpus:
                    self.fail(where, f"fleet-agent must not request GPUs ({section}: {gpus})")
        if "llama.cpp" in image or "llama-server" in container.get("name", ""):
            args = [*(container.get("command") or []), *(container.get("args") or [])]
            if "--metrics" not in args:
                self.fail(where, "llama-server must run with --metrics (the agent reads /metrics)")
        if binary == "fleet-planner":
            for probe, service in (("livenessProbe", "liveness"), ("readinessProbe", "readiness")):
                grpc = (container.get(probe) or {}).get("grpc")
                if not grpc or grpc.get("service") != service or not isinstance(grpc.get("port"), int):
                    self.fail(where, f"{probe} must be a grpc probe on a numeric port with service {service!r}")

    # ---- documents -------------------------------------------------------------------------

    def check_file(self, path: Path, label: str) -> None:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        index: dict[tuple[str, str, str], dict] = {}
        for doc in docs:
            if doc.get("kind") in ("ConfigMap", "Secret"):
                meta = doc["metadata"]
                data = dict(doc.get("stringData") or {})
                for key, value in (doc.get("data") or {}).items():
                    data[key] = base64.b64decode(value).decode() if doc["kind"] == "Secret" else value
                index[(doc["kind"], meta.get("namespace", "default"), meta["name"])] = data
        for doc in docs:
            kind = doc.get("kind")
            meta = doc.get("metadata", {})
            if kind == "Service" and meta.get("name") == "fleet-planner":
                ports = {p.get("port"): p for p in doc["spec"].get("ports", [])}
                if (ports.get(50051) or {}).get("appProtocol") != "kubernetes.io/h2c":
                    self.fail(f"{label} Service/fleet-planner", "port 50051 must have appProtocol kubernetes.io/h2c")
                if 9090 not in ports:
                    self.fail(f"{label} Service/fleet-planner", "must expose metrics on 9090")
            if kind not in POD_KINDS:
                continue
            pod = POD_KINDS[kind](doc)
            namespace = meta.get("namespace", "default")
            for section in ("initContainers", "containers"):
                for container in pod.get(section) or []:
                    image = container.get("image", "")
                    name = image.rsplit("/", 1)[-1].split("@", 1)[0].split(":", 1)[0]
                    binary = name if name in BINARIES else None
                    where = f"{label} {kind}/{meta.get('name')} {container['name']}"
                    self.check_policy(where, binary, image, container, pod)
                    if binary is not None:
                        self.check_flags(where, binary, container, namespace, index)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--bin-dir", type=Path, default=Path("target/debug"))
    parser.add_argument("--require-binaries", action="store_true")
    parser.add_argument("--root", type=Path, help="name rendered files relative to this folder")
    parser.add_argument("rendered", nargs="+", type=Path)
    args = parser.parse_args()
    checker = Checker(args.bin_dir.resolve(), args.require_binaries)
    for path in args.rendered:
        label = str(path.relative_to(args.root)) if args.root else path.name
        checker.check_file(path, label.removesuffix(".yaml"))
    for binary, count in checker.checked.items():
        if count == 0 and binary not in checker.skipped and not any(binary in f for f in checker.failures):
            checker.fail("manifests", f"no container runs {binary}: nothing checked its flags")
    if checker.failures:
        print(f"{len(checker.failures)} failed")
        return 1
    print("manifest checks passed: " + ", ".join(f"{b} x{n}" for b, n in checker.checked.items())
          + (f"; skipped (not built): {', '.join(sorted(checker.skipped))}" if checker.skipped else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
