"""Kubernetes manifests checked offline: the schema and the restricted Pod Security level.

One Kubernetes version and two checks for everything the workbook writes for a cluster:
the CronJob of `mpc schedule add --target k8s` and the manifests of `mpc stack export
--k8s`.  kubernetes-validate bundles the schemas (no cluster, no network); strict mode
refuses unknown fields, so a typo fails here instead of being dropped by the API server.
`restricted_violations` reads the Pod template of a workload against the "restricted"
Pod Security Standard (its baseline rules included), hand-written from the table at
kubernetes.io/docs/concepts/security/pod-security-standards/, so a namespace enforcing
that level admits what the workbook writes.  Also here: the images the repository builds,
tagged with the package version, and `check_image`, which refuses `:latest` and untagged.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from ._version import __version__
from .errors import ConfigError
from .extras import require

__all__ = [
    "DEFAULT_API_IMAGE",
    "DEFAULT_WORKBOOK_IMAGE",
    "IMAGE_TAG",
    "IMAGE_UID",
    "K8S_VERSION",
    "check_image",
    "check_restricted",
    "container_security_context",
    "pod_security_context",
    "restricted_violations",
    "validate_manifest",
    "validate_manifest_file",
]

# The version manifests are checked against (every kind the workbook writes is GA there).
K8S_VERSION = "1.30.0"

# The repository's images carry the package version as their tag (a PEP 440 local part's
# `+` is not allowed in a tag), never `:latest`: compose/Dockerfile.mpc-api and
# compose/Dockerfile.workbook (`mpc run` as entrypoint).  Both run as user mpc, uid 10001.
IMAGE_TAG = re.sub(r"[^A-Za-z0-9_.-]", "-", __version__)
DEFAULT_API_IMAGE = f"mpc-workbench/mpc-api:{IMAGE_TAG}"
DEFAULT_WORKBOOK_IMAGE = f"mpc-workbench/workbook:{IMAGE_TAG}"
IMAGE_UID = 10001


def validate_manifest(
    manifest: Mapping[str, Any],
    *,
    where: str | None = None,
    version: str = K8S_VERSION,
    extra: str = "stack",
) -> str:
    """Check one manifest; ConfigError names it (`where`, else Kind/name) and the bad field.

    Returns what was checked.  `extra` is the one whose install hint a missing
    kubernetes-validate names.
    """
    kv = require("kubernetes_validate", "Kubernetes manifests", extra)
    if where is None:
        metadata = manifest.get("metadata") or {}
        where = f"{manifest.get('kind')}/{metadata.get('name')}"
    try:
        kv.validate(dict(manifest), version, strict=True)
    except kv.ValidationError as exc:
        at = ".".join(str(part) for part in exc.path) or "(top)"
        problem = f"{at}: {exc.message}"
        raise ConfigError(f"{where} is not valid Kubernetes {version}: {problem}") from None
    except (kv.SchemaNotFoundError, kv.InvalidSchemaError) as exc:
        raise ConfigError(f"{where}: no schema to check it against: {exc.message}") from None
    return f"kubernetes-validate {version} (strict): ok"


def validate_manifest_file(path: Path, *, version: str = K8S_VERSION) -> list[str]:
    """Check every manifest in a YAML file (schema, then restricted Pod Security).

    Returns `file: Kind/name` for each; ConfigError on the first bad one.
    """
    checked = []
    for doc in yaml.safe_load_all(Path(path).read_text(encoding="utf-8")):
        if not doc:
            continue
        metadata = doc.get("metadata") or {}
        where = f"{Path(path).name}: {doc.get('kind')}/{metadata.get('name')}"
        validate_manifest(doc, where=where, version=version)
        check_restricted(doc, where=Path(path).name)
        checked.append(where)
    return checked


def check_image(image: str | None, *, option: str) -> str:
    """`image` if it names a version (a tag other than `latest`, or a digest); else ConfigError.

    `:latest` and an untagged name (which means `:latest`) move under a running workload:
    the next pull or a new node runs other code than the one checked.
    """
    problem = _image_problem(image or "")
    if problem:
        name = (image or "").partition("@")[0]
        if ":" in name.rpartition("/")[2]:
            name = name.rpartition(":")[0]
        example = f"{name.strip() or 'NAME'}:{IMAGE_TAG}"
        raise ConfigError(f"{option} {image!r} {problem}; pin a version, e.g. {example}")
    return str(image)


def pod_security_context(uid: int, *, gid: int | None = None) -> dict[str, Any]:
    """A Pod's securityContext at the restricted level: non-root `uid`, RuntimeDefault seccomp.

    With `gid`, volumes are writable by that group (fsGroup).  A new dict each call, so
    YAML writes no anchors.
    """
    context: dict[str, Any] = {"runAsNonRoot": True, "runAsUser": uid}
    if gid is not None:
        context |= {"runAsGroup": gid, "fsGroup": gid}
    return context | {"seccompProfile": {"type": "RuntimeDefault"}}


def container_security_context(uid: int) -> dict[str, Any]:
    """A container's securityContext at the restricted level, complete on its own (a pod
    whose own context someone else writes, such as a chart's Job, still passes)."""
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


# --- restricted Pod Security ---------------------------------------------------------------

# Where each workload kind keeps its Pod template.
_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": (),
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}
_CONTAINER_LISTS = (
    ("initContainers", "init container"),
    ("containers", "container"),
    ("ephemeralContainers", "ephemeral container"),
)
# Restricted "Volume Types": everything else (hostPath, nfs, iscsi...) is refused.
_RESTRICTED_VOLUMES = frozenset(
    {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
     "projected", "secret"}
)  # fmt: skip
# Baseline "Sysctls": the safe set (the last four since 1.29).
_SAFE_SYSCTLS = frozenset(
    {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range",
     "net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_syncookies",
     "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
     "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
     "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes"}
)  # fmt: skip
_SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t"})
_PROFILE_TYPES = frozenset({"RuntimeDefault", "Localhost"})  # seccomp's and AppArmor's
_APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
_ADDABLE_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})
_RESOURCES = ("requests.cpu", "requests.memory", "limits.cpu", "limits.memory")
_SC = "securityContext"

# The controls, as the Pod Security Standards page names them, and the workbook's own rules.
_HOST_PROCESS = "(baseline: HostProcess)"
_HOST_NAMESPACES = "(baseline: Host Namespaces)"
_PRIVILEGED = "(baseline: Privileged Containers)"
_HOST_PATH = "(baseline: HostPath Volumes)"
_HOST_PORTS = "(baseline: Host Ports)"
_APPARMOR = "(baseline: AppArmor)"
_SELINUX = "(baseline: SELinux)"
_PROC_MOUNT = "(baseline: /proc Mount Type)"
_SYSCTLS = "(baseline: Sysctls)"
_VOLUME_TYPES = "(restricted: Volume Types)"
_ESCALATION = "(restricted: Privilege Escalation)"
_NON_ROOT = "(restricted: Running as Non-root)"
_NON_ROOT_USER = "(restricted: Running as Non-root user)"
_SECCOMP = "(restricted: Seccomp)"
_CAPABILITIES = "(restricted: Capabilities)"
_OWN_RESOURCES = "(workbook: resources on every container)"
_OWN_IMAGES = "(workbook: images pinned to a version)"
_OWN_SECRETS = "(workbook: Secret references required)"


def restricted_violations(manifest: Mapping[str, Any]) -> list[str]:
    """What keeps `manifest` out of a namespace at the restricted Pod Security level.

    One line per problem, `Kind/name: [container NAME: ]field ... (rule)`, where the rule
    is the Pod Security Standard's control (`baseline: ...` or `restricted: ...`) or one of
    the workbook's own, which every manifest it writes also keeps: resources (cpu and memory
    requests and limits) on every container, init containers included; images pinned to a
    version; Secret references required.  A kind without a Pod template has none.
    """
    path = _TEMPLATE_PATHS.get(str(manifest.get("kind")))
    if path is None:
        return []
    template: Any = manifest
    for key in path:
        template = (template or {}).get(key)
    template = template or {}
    spec = template.get("spec") or {}
    where = f"{manifest.get('kind')}/{(manifest.get('metadata') or {}).get('name')}"
    found = [f"{where}: {problem}" for problem in _pod_problems(template, spec)]
    for key, label in _CONTAINER_LISTS:
        for container in spec.get(key) or []:
            who = f"{where}: {label} {container.get('name')}"
            problems = _container_problems(container, spec.get(_SC) or {}, key)
            found += [f"{who}: {problem}" for problem in problems]
    return found


def check_restricted(manifest: Mapping[str, Any], *, where: str | None = None) -> str:
    """ConfigError listing every restricted Pod Security problem of `manifest` (one line).

    `where` (a file name) goes before the problems.  Returns what was checked.
    """
    problems = restricted_violations(manifest)
    if problems:
        prefix = f"{where}: " if where else ""
        raise ConfigError(
            f"{prefix}not fit for the restricted Pod Security level: {'; '.join(problems)}"
        )
    return f"restricted Pod Security ({K8S_VERSION}): ok"


def _pod_problems(template: Mapping[str, Any], spec: Mapping[str, Any]) -> Iterator[str]:
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            yield f"spec.{field} must be unset or false {_HOST_NAMESPACES}"
    context = spec.get(_SC) or {}
    yield from _context_problems(f"spec.{_SC}", context)
    for sysctl in context.get("sysctls") or []:
        if sysctl.get("name") not in _SAFE_SYSCTLS:
            yield f"spec.{_SC}.sysctls: {sysctl.get('name')} is not a safe sysctl {_SYSCTLS}"
    for volume in spec.get("volumes") or []:
        name = volume.get("name")
        for kind in sorted(set(volume) - {"name"}):
            if kind == "hostPath":
                yield f"volume {name}: hostPath is not allowed {_HOST_PATH}"
            elif kind not in _RESTRICTED_VOLUMES:
                yield f"volume {name}: {kind} is not an allowed volume type {_VOLUME_TYPES}"
        sources = (volume.get("projected") or {}).get("sources") or []
        secrets = [volume.get("secret") or {}, *((s or {}).get("secret") or {} for s in sources)]
        if any(secret.get("optional") is True for secret in secrets):
            yield f"volume {name}: secret.optional must not be true {_OWN_SECRETS}"
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    for key, value in annotations.items():
        allowed = value == "runtime/default" or str(value).startswith("localhost/")
        if key.startswith(_APPARMOR_ANNOTATION) and not allowed:
            yield f"annotation {key}: {value!r} is not runtime/default or localhost/* {_APPARMOR}"


def _context_problems(at: str, context: Mapping[str, Any]) -> Iterator[str]:
    """The rules a pod's and a container's securityContext share."""
    if (context.get("windowsOptions") or {}).get("hostProcess"):
        yield f"{at}.windowsOptions.hostProcess must be unset or false {_HOST_PROCESS}"
    selinux = context.get("seLinuxOptions") or {}
    if selinux.get("type", "") not in _SELINUX_TYPES:
        yield f"{at}.seLinuxOptions.type {selinux['type']!r} is not allowed {_SELINUX}"
    for field in ("user", "role"):
        if selinux.get(field):
            yield f"{at}.seLinuxOptions.{field} must be unset {_SELINUX}"
    apparmor = (context.get("appArmorProfile") or {}).get("type")
    if apparmor is not None and apparmor not in _PROFILE_TYPES:
        yield f"{at}.appArmorProfile.type {apparmor!r} is not RuntimeDefault/Localhost {_APPARMOR}"
    seccomp = (context.get("seccompProfile") or {}).get("type")
    if seccomp is not None and seccomp not in _PROFILE_TYPES:
        yield f"{at}.seccompProfile.type {seccomp!r} is not RuntimeDefault/Localhost {_SECCOMP}"
    if context.get("runAsNonRoot") is False:
        yield f"{at}.runAsNonRoot must not be false {_NON_ROOT}"
    if context.get("runAsUser") == 0:
        yield f"{at}.runAsUser must not be 0 {_NON_ROOT_USER}"


def _container_problems(
    container: Mapping[str, Any], pod_context: Mapping[str, Any], key: str
) -> Iterator[str]:
    context = container.get(_SC) or {}
    yield from _context_problems(_SC, context)
    if context.get("privileged"):
        yield f"{_SC}.privileged must be unset or false {_PRIVILEGED}"
    if context.get("procMount", "Default") != "Default":
        yield f"{_SC}.procMount {context['procMount']!r} is not Default {_PROC_MOUNT}"
    for port in container.get("ports") or []:
        if port.get("hostPort"):
            yield f"ports: hostPort {port['hostPort']} must be unset or 0 {_HOST_PORTS}"
    if context.get("allowPrivilegeEscalation") is not False:
        yield f"{_SC}.allowPrivilegeEscalation must be false {_ESCALATION}"
    if context.get("runAsNonRoot") is None and pod_context.get("runAsNonRoot") is not True:
        yield f"{_SC}.runAsNonRoot is set neither here nor for the pod {_NON_ROOT}"
    pod_seccomp = (pod_context.get("seccompProfile") or {}).get("type")
    if "seccompProfile" not in context and pod_seccomp not in _PROFILE_TYPES:
        yield f"{_SC}.seccompProfile is set neither here nor for the pod {_SECCOMP}"
    capabilities = context.get("capabilities") or {}
    if "ALL" not in (capabilities.get("drop") or []):
        yield f"{_SC}.capabilities.drop must include ALL {_CAPABILITIES}"
    added = sorted(set(capabilities.get("add") or []) - _ADDABLE_CAPABILITIES)
    if added:
        extra = ", ".join(added)
        yield f"{_SC}.capabilities.add: {extra} not allowed (only NET_BIND_SERVICE) {_CAPABILITIES}"
    if key != "ephemeralContainers":  # the API refuses resources on an ephemeral container
        missing = [name for name in _RESOURCES if not _dig(container.get("resources"), name)]
        if missing:
            yield f"resources: no {', '.join(missing)} {_OWN_RESOURCES}"
    problem = _image_problem(str(container.get("image") or ""))
    if problem:
        yield f"image {container.get('image')!r} {problem} {_OWN_IMAGES}"
    for source in container.get("envFrom") or []:
        ref = source.get("secretRef") or {}
        if ref.get("optional") is True:
            yield f"envFrom secretRef {ref.get('name')}: optional must not be true {_OWN_SECRETS}"
    for var in container.get("env") or []:
        ref = (var.get("valueFrom") or {}).get("secretKeyRef") or {}
        if ref.get("optional") is True:
            yield f"env {var.get('name')}: secretKeyRef.optional must not be true {_OWN_SECRETS}"


def _image_problem(image: str) -> str | None:
    """Why `image` does not name one version (None when it does)."""
    if not image.strip() or image != image.strip():
        return "is not an image name"
    name, _, digest = image.partition("@")
    if digest and not re.fullmatch(r"[a-z0-9]+([+._-][a-z0-9]+)*:[0-9a-fA-F]{32,}", digest):
        return f"has an invalid digest {digest!r}"
    last = name.rpartition("/")[2]
    if ":" not in last:
        return None if digest else "has no tag (which means :latest)"
    tag = last.partition(":")[2]
    if tag == "latest":
        return "uses :latest"
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", tag):
        return f"has an invalid tag {tag!r}"
    return None


def _dig(node: Any, dotted: str) -> Any:
    """The value at `a.b` in nested mappings, None where a level is missing."""
    for key in dotted.split("."):
        node = node.get(key) if isinstance(node, Mapping) else None
    return node
