"""`mpc stack export --k8s OUT`: the core on a Kubernetes cluster's own engines, not ours.

LiteLLM goes through its official Helm chart (`values-litellm.yaml`): several
replicas, the generated config as a ConfigMap we write (`proxyConfigMap.create:
false`), every key from Secrets, the team's existing Postgres (`db.useExisting`) and
Redis (shared rate limits and cooldowns across replicas).  MPC-API gets plain
manifests: a Deployment (stateless, several replicas; an init container syncs the
registry through the gateway; readiness on the deep `/health`), a Service, a
PodDisruptionBudget and a HorizontalPodAutoscaler.  Secrets are written as skeletons
with empty values: no secret ever lands in the export.  Every pod meets the restricted Pod
Security level (non-root, RuntimeDefault seccomp, no privilege escalation, every capability
dropped) and every container, init containers included, has cpu and memory requests and
limits; images are pinned to a version.  `validate_k8s()` checks every manifest against the
Kubernetes schema (strict) and that level (`mpc_lib.kubernetes`), and the chart's pods as
the values file renders them against that level too.
"""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import Field

from ..config import Settings
from ..errors import ConfigError
from ..gateway.config import load_gateway_config
from ..kubernetes import (
    DEFAULT_API_IMAGE,
    IMAGE_UID,
    K8S_VERSION,
    check_image,
    check_restricted,
    container_security_context,
    pod_security_context,
    validate_manifest_file,
)
from ..models import MpcModel
from ..storage import atomic_write_text

__all__ = [
    "K8sExport",
    "K8sOptions",
    "export_k8s",
    "validate_k8s",
]

# LiteLLM's non-root build (the version local mode runs): the `-database` image runs as
# root and keeps Prisma's files where another user cannot write, so it cannot start at the
# restricted level; this one runs as `nobody` with its files owned by that user.
LITELLM_IMAGE = "ghcr.io/berriai/litellm-non_root"
LITELLM_TAG = "main-v1.108.7"
LITELLM_UID = 65534
# Requests and limits of every container (the restricted level as the workbook keeps it).
_API_RESOURCES = {"requests": {"cpu": "100m", "memory": "256Mi"},
                  "limits": {"cpu": "1", "memory": "512Mi"}}  # fmt: skip
_LITELLM_RESOURCES = {"requests": {"cpu": "500m", "memory": "1Gi"},
                      "limits": {"cpu": "2", "memory": "2Gi"}}  # fmt: skip
_MIGRATION_RESOURCES = {"requests": {"cpu": "100m", "memory": "256Mi"},
                        "limits": {"cpu": "1", "memory": "1Gi"}}  # fmt: skip
_LABELS = {"app.kubernetes.io/name": "mpc-api", "app.kubernetes.io/part-of": "mpc-workbench"}
_READINESS = (
    "import os, urllib.request as u; u.urlopen(u.Request('http://127.0.0.1:3000/health', "
    "headers={'Authorization': 'Bearer ' + os.environ['MPC_API_KEY']}), timeout=4)"
)


@dataclass(frozen=True)
class K8sOptions:
    """What the cluster has: names, hosts, replica counts, the MPC-API image (pinned: a
    `:latest` or untagged image is refused)."""

    release: str = "mpc"
    namespace: str | None = None
    api_image: str = DEFAULT_API_IMAGE
    api_replicas: int = 2
    api_max_replicas: int = 6
    gateway_replicas: int = 2
    gateway_max_replicas: int = 6
    postgres_host: str = "postgres"
    redis_host: str = "redis"
    redis_port: int = 6379

    def __post_init__(self) -> None:
        check_image(self.api_image, option="--api-image")

    @property
    def gateway_service(self) -> str:
        """The chart's Service name: `<release>-litellm`."""
        return f"{self.release}-litellm"


class K8sExport(MpcModel):
    """The files written, and what each manifest is (`mpc stack export --k8s --json`)."""

    out: Path
    files: list[Path] = Field(default_factory=list)
    manifests: list[str] = Field(default_factory=list)


def export_k8s(
    settings: Settings,
    out: Path,
    *,
    config_path: Path | None = None,
    options: K8sOptions | None = None,
) -> K8sExport:
    """Write values, ConfigMap, Secret skeletons and MPC-API manifests under `out`."""
    options = options or K8sOptions()
    config_path = config_path or Path(settings.outputs_dir) / "gateway" / "litellm.yaml"
    config = _live_config(config_path)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    export = K8sExport(out=out)
    documents = {
        "litellm-config.yaml": [_configmap(config, options)],
        "secrets.yaml": _secrets(config, options),
        "mpc-api.yaml": [_deployment(options), _service(options), _pdb(options), _hpa(options)],
    }
    for name, docs in documents.items():
        path = out / name
        header = _HEADERS.get(name, "")
        atomic_write_text(path, header + yaml.safe_dump_all(docs, sort_keys=False, width=100))
        export.files.append(path)
        export.manifests += [f"{name}: {doc['kind']}/{doc['metadata']['name']}" for doc in docs]
    values = out / "values-litellm.yaml"
    atomic_write_text(values, _VALUES_HEADER + yaml.safe_dump(_values(options), sort_keys=False))
    export.files.append(values)
    readme = out / "README.md"
    atomic_write_text(readme, _readme(options))
    export.files.append(readme)
    return export


def _live_config(path: Path) -> dict[str, Any]:
    """The gateway config, refused when it aims at the local sandbox."""
    data = load_gateway_config(path)
    local = sorted({url for url in _upstream_urls(data) if _is_local(url)})
    sandboxed = [
        name
        for name, source in ((data.get("mpc") or {}).get("upstreams") or {}).items()
        if source != "live"
    ]
    if local or sandboxed:
        what = ", ".join(local) or ", ".join(sandboxed)
        raise ConfigError(
            f"{path} aims at the local sandbox ({what}); write the live config "
            "with `mpc gateway config` first"
        )
    return data


def _upstream_urls(config: Mapping[str, Any]) -> list[str]:
    urls = [
        str(entry.get("litellm_params", {}).get("api_base"))
        for entry in config.get("model_list", [])
        if isinstance(entry, dict) and entry.get("litellm_params", {}).get("api_base")
    ]
    general = config.get("general_settings") or {}
    urls += [
        str(route.get("target"))
        for route in general.get("pass_through_endpoints") or []
        if isinstance(route, dict) and route.get("target")
    ]
    return urls


def _is_local(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _meta(name: str, options: K8sOptions, labels: Mapping[str, str] | None = None) -> dict:
    meta: dict[str, Any] = {"name": name}
    if options.namespace:
        meta["namespace"] = options.namespace
    if labels:
        meta["labels"] = dict(labels)
    return meta


def _cluster_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config for several replicas: rate limits and cooldowns shared through Redis."""
    data = copy.deepcopy(dict(config))
    router = dict(data.get("router_settings") or {})
    router.update(
        {
            "redis_host": "os.environ/REDIS_HOST",
            "redis_port": "os.environ/REDIS_PORT",
            "redis_password": "os.environ/REDIS_PASSWORD",
        }
    )
    data["router_settings"] = router
    return data


def _configmap(config: Mapping[str, Any], options: K8sOptions) -> dict[str, Any]:
    text = yaml.safe_dump(_cluster_config(config), sort_keys=False, width=100)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(f"{options.release}-litellm-config", options),
        "data": {"config.yaml": text},
    }


def _key_vars(config: Mapping[str, Any]) -> list[str]:
    """Every `os.environ/NAME` the config refers to (provider keys, the master key)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, str) and "os.environ/" in node:
            for part in node.split("os.environ/")[1:]:
                name = "".join(ch for ch in part if ch.isalnum() or ch == "_")
                if name and name not in found:
                    found.append(name)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(config)
    return found


def _secret(name: str, keys: list[str], options: K8sOptions) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(name, options),
        "type": "Opaque",
        "stringData": dict.fromkeys(keys, ""),
    }


def _secrets(config: Mapping[str, Any], options: K8sOptions) -> list[dict[str, Any]]:
    env_keys = [k for k in _key_vars(config) if k not in ("REDIS_HOST", "REDIS_PORT")]
    for needed in ("LITELLM_MASTER_KEY", "LITELLM_SALT_KEY", "REDIS_PASSWORD"):
        if needed not in env_keys:
            env_keys.append(needed)
    return [
        _secret(f"{options.release}-litellm-env", env_keys, options),
        _secret(f"{options.release}-litellm-db", ["username", "password"], options),
        _secret(f"{options.release}-mpc-api", ["MPC_API_KEY", "LITELLM_MASTER_KEY"], options),
    ]


def _values(options: K8sOptions) -> dict[str, Any]:
    """Values for BerriAI's litellm-helm chart (keys as its values.yaml names them)."""
    env_secret = f"{options.release}-litellm-env"
    return {
        "replicaCount": options.gateway_replicas,
        "image": {"repository": LITELLM_IMAGE, "tag": LITELLM_TAG, "pullPolicy": "IfNotPresent"},
        "masterkeySecretName": env_secret,
        "masterkeySecretKey": "LITELLM_MASTER_KEY",
        "environmentSecrets": [env_secret],
        "envVars": {
            "REDIS_HOST": options.redis_host,
            "REDIS_PORT": str(options.redis_port),
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "STORE_MODEL_IN_DB": "False",
        },
        "proxyConfigMap": {
            "create": False,
            "name": f"{options.release}-litellm-config",
            "key": "config.yaml",
        },
        "db": {
            "useExisting": True,
            "deployStandalone": False,
            "endpoint": options.postgres_host,
            "database": "litellm",
            "secret": {
                "name": f"{options.release}-litellm-db",
                "usernameKey": "username",
                "passwordKey": "password",
            },
        },
        "redis": {"enabled": False},
        "migrationJob": {"enabled": True, "resources": copy.deepcopy(_MIGRATION_RESOURCES)},
        "pdb": {"enabled": True, "minAvailable": 1},
        "autoscaling": {
            "enabled": True,
            "minReplicas": options.gateway_replicas,
            "maxReplicas": options.gateway_max_replicas,
            "targetCPUUtilizationPercentage": 70,
        },
        # The chart puts podSecurityContext on the proxy's pod only and securityContext on
        # both its containers (the proxy and the migration Job), so the latter is complete.
        "podSecurityContext": pod_security_context(LITELLM_UID),
        "securityContext": container_security_context(LITELLM_UID),
        "resources": copy.deepcopy(_LITELLM_RESOURCES),
    }


def _api_env(options: K8sOptions) -> list[dict[str, str]]:
    return [
        {"name": "MPC_HOME", "value": "/workbook"},
        {"name": "MPC_OUTPUTS_DIR", "value": "/workbook/outputs"},
        {"name": "MPC_GATEWAY_URL", "value": f"http://{options.gateway_service}:4000"},
        {"name": "MPC_API_URL", "value": "http://0.0.0.0:3000"},
    ]


def _deployment(options: K8sOptions) -> dict[str, Any]:
    # Required (no `optional`): without the Secret the pod does not start.
    env_from = [{"secretRef": {"name": f"{options.release}-mpc-api"}}]
    outputs = {"name": "outputs", "mountPath": "/workbook/outputs"}
    gateway_config = {
        "name": "gateway-config",
        "mountPath": "/workbook/outputs/gateway/litellm.yaml",
        "subPath": "config.yaml",
        "readOnly": True,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta("mpc-api", options, _LABELS),
        "spec": {
            "replicas": options.api_replicas,
            "selector": {"matchLabels": {"app.kubernetes.io/name": "mpc-api"}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {"labels": dict(_LABELS)},
                "spec": {
                    "securityContext": pod_security_context(IMAGE_UID, gid=IMAGE_UID),
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "kubernetes.io/hostname",
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "mpc-api"}},
                        }
                    ],
                    "initContainers": [
                        {
                            # Each replica reads the catalog through the gateway, which holds
                            # the provider keys: no shared volume, no provider key in MPC-API.
                            "name": "registry",
                            "image": options.api_image,
                            "command": ["mpc", "sync", "--source", "gateway"],
                            "env": _api_env(options),
                            "envFrom": copy.deepcopy(env_from),  # copies: no YAML anchors
                            "resources": copy.deepcopy(_API_RESOURCES),
                            "volumeMounts": [dict(outputs)],
                            "securityContext": container_security_context(IMAGE_UID),
                        }
                    ],
                    "containers": [
                        {
                            "name": "mpc-api",
                            "image": options.api_image,
                            "command": [
                                "mpc",
                                "api",
                                "serve",
                                "--host",
                                "0.0.0.0",
                                "--port",
                                "3000",
                            ],
                            "ports": [{"name": "http", "containerPort": 3000, "protocol": "TCP"}],
                            "env": _api_env(options),
                            "envFrom": copy.deepcopy(env_from),
                            "readinessProbe": {
                                # The deep health: ready only while the gateway answers too.
                                "exec": {"command": ["python", "-c", _READINESS]},
                                "periodSeconds": 10,
                                "timeoutSeconds": 5,
                                "failureThreshold": 3,
                            },
                            "livenessProbe": {
                                "httpGet": {"path": "/health/liveliness", "port": "http"},
                                "periodSeconds": 15,
                                "timeoutSeconds": 5,
                                "failureThreshold": 4,
                            },
                            "startupProbe": {
                                "httpGet": {"path": "/health/liveliness", "port": "http"},
                                "periodSeconds": 2,
                                "failureThreshold": 30,
                            },
                            "resources": copy.deepcopy(_API_RESOURCES),
                            "volumeMounts": [dict(outputs), gateway_config],
                            "securityContext": container_security_context(IMAGE_UID),
                        }
                    ],
                    "volumes": [
                        {"name": "outputs", "emptyDir": {}},
                        {
                            "name": "gateway-config",
                            "configMap": {"name": f"{options.release}-litellm-config"},
                        },
                    ],
                },
            },
        },
    }


def _service(options: K8sOptions) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta("mpc-api", options, _LABELS),
        "spec": {
            "type": "ClusterIP",
            "selector": {"app.kubernetes.io/name": "mpc-api"},
            "ports": [{"name": "http", "port": 3000, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def _pdb(options: K8sOptions) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta("mpc-api", options, _LABELS),
        "spec": {
            "minAvailable": 1,
            "selector": {"matchLabels": {"app.kubernetes.io/name": "mpc-api"}},
        },
    }


def _hpa(options: K8sOptions) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _meta("mpc-api", options, _LABELS),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "mpc-api"},
            "minReplicas": options.api_replicas,
            "maxReplicas": options.api_max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
        },
    }


def validate_k8s(out: Path, *, version: str = K8S_VERSION) -> list[str]:
    """Validate every manifest under `out` (strict schema, restricted Pod Security level);
    ConfigError on the first bad one.

    Returns `file: Kind/name` for each manifest checked.  A Helm values file is not a
    manifest: the chart's pods, as far as `values-litellm.yaml` writes them, are held to the
    restricted level instead.
    """
    checked = []
    for path in sorted(Path(out).glob("*.yaml")):
        if not path.name.startswith("values-"):
            checked += validate_manifest_file(path, version=version)
    values = Path(out) / "values-litellm.yaml"
    if values.is_file():
        for pod in _chart_pods(yaml.safe_load(values.read_text(encoding="utf-8")) or {}):
            check_restricted(pod, where=f"{values.name} (as the chart renders it)")
    return checked


def _chart_pods(values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The proxy Deployment and the migration Job of litellm-helm, reduced to what the
    values set (its templates/deployment.yaml and migrations-job.yaml read them so: the
    pod's securityContext on the proxy only, the container's on both)."""
    image = values.get("image") or {}
    secrets = values.get("environmentSecrets") or []

    def pod(kind: str, container: str, context: Any, resources: Any) -> dict[str, Any]:
        spec = {
            "securityContext": context or {},
            "containers": [{
                "name": container,
                "image": f"{image.get('repository')}:{image.get('tag')}",
                "securityContext": values.get("securityContext") or {},
                "resources": resources or {},
                "envFrom": [{"secretRef": {"name": name}} for name in secrets],
            }],
        }  # fmt: skip
        name = "litellm" if kind == "Deployment" else "litellm-migrations"
        return {"kind": kind, "metadata": {"name": name}, "spec": {"template": {"spec": spec}}}

    pods = [pod("Deployment", "litellm", values.get("podSecurityContext"), values.get("resources"))]
    migration = values.get("migrationJob") or {}
    if migration.get("enabled", True):
        pods.append(pod("Job", "prisma-migrations", None, migration.get("resources")))
    return pods


_VALUES_HEADER = """\
# Values for BerriAI's LiteLLM Helm chart (deploy/charts/litellm-helm), written by
# `mpc stack export --k8s`.  Install after the ConfigMap and the Secrets exist:
#   kubectl apply -f litellm-config.yaml -f secrets.yaml
#   helm install mpc oci://ghcr.io/berriai/litellm-helm -f values-litellm.yaml
# No secret is in this file: keys come from the Secrets it names.  The pods run LiteLLM's
# non-root image at the restricted Pod Security level, with requests and limits.
"""

_HEADERS = {
    "secrets.yaml": (
        "# Secret skeletons: fill in every empty value before applying (or create them with\n"
        "# kubectl create secret generic NAME --from-literal=KEY=VALUE ...).  Never commit\n"
        "# this file once it holds values.\n"
    ),
    "litellm-config.yaml": (
        "# The gateway config `mpc gateway config` generated, for every LiteLLM replica;\n"
        "# keys stay os.environ/ references.  Redis shares limits and cooldowns.\n"
    ),
    "mpc-api.yaml": "# MPC-API: stateless, several replicas, ready only while the gateway is.\n",
}


def _readme(options: K8sOptions) -> str:
    ns = f" -n {options.namespace}" if options.namespace else ""
    namespace = options.namespace or "NAMESPACE"
    return f"""# MPC core on Kubernetes

Written by `mpc stack export --k8s`. It assumes the cluster already has Postgres
(`{options.postgres_host}`) and Redis (`{options.redis_host}:{options.redis_port}`); the chart
does not install them here.

1. Fill in `secrets.yaml` (or create the same Secrets with `kubectl create secret`), then
   `kubectl apply{ns} -f secrets.yaml -f litellm-config.yaml`.
2. `helm install {options.release} oci://ghcr.io/berriai/litellm-helm{ns} -f values-litellm.yaml`
   ({options.gateway_replicas}+ replicas behind `{options.gateway_service}:4000`).
3. Build and push the MPC-API image (`docker build -f compose/Dockerfile.mpc-api -t
   {options.api_image} .`), then `kubectl apply{ns} -f mpc-api.yaml`.

MPC-API pods sync the registry through the gateway at start (init container), so they
hold no provider key and share no volume; readiness is the deep `/health` (the gateway
must answer too).

Every pod here, the chart's included, meets the restricted Pod Security level (non-root,
RuntimeDefault seccomp, no privilege escalation, all capabilities dropped; cpu and memory
requests and limits on every container), so the namespace can enforce it:
`kubectl label namespace {namespace} pod-security.kubernetes.io/enforce=restricted`.
LiteLLM runs its non-root image (`{LITELLM_IMAGE}:{LITELLM_TAG}`, uid {LITELLM_UID}).
"""
