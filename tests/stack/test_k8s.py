"""`mpc stack export --k8s`: chart values and MPC-API manifests, valid against the schema; every
manifest the workbook writes for a cluster (the export's and the schedule's CronJob) fit for the
restricted Pod Security level, and the checker that says so able to fail."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml
from cli_runner import mpc

from mpc_lib.config import Settings
from mpc_lib.errors import ConfigError
from mpc_lib.kubernetes import (
    IMAGE_TAG,
    check_image,
    check_restricted,
    restricted_violations,
    validate_manifest,
)
from mpc_lib.schedule import ScheduleSpec, render_schedule
from mpc_lib.stack import K8sOptions, export_k8s, validate_k8s

pytest.importorskip("kubernetes_validate")

# The shape `mpc gateway config` writes: live upstreams, keys as os.environ/ references.
LIVE_CONFIG = {
    "model_list": [
        {
            "model_name": "gpt-4o-mini",
            "litellm_params": {
                "model": "cometapi/gpt-4o-mini",
                "api_key": "os.environ/COMETAPI_KEY",
                "api_base": "https://api.cometapi.com/v1",
            },
            "model_info": {"mode": "chat"},
        },
        {
            "model_name": "fal-ai/flux/dev",
            "litellm_params": {"model": "fal_ai/fal-ai/flux/dev", "api_key": "os.environ/FAL_KEY"},
            "model_info": {"mode": "image_generation"},
        },
    ],
    "general_settings": {
        "master_key": "os.environ/LITELLM_MASTER_KEY",
        "pass_through_endpoints": [
            {
                "path": "/fal",
                "target": "https://api.fal.ai/v1",
                "headers": {"Authorization": "Key os.environ/FAL_KEY"},
            },
        ],
    },
    "mpc": {"upstreams": {"fal": "live", "comet": "live"}},
}


@pytest.fixture
def live_config(tmp_path: Path) -> Path:
    path = tmp_path / "litellm.yaml"
    path.write_text(yaml.safe_dump(LIVE_CONFIG), encoding="utf-8")
    return path


def _docs(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def test_the_export_validates_and_holds_what_a_team_needs(
    tmp_path: Path, live_config: Path
) -> None:
    out = tmp_path / "k8s"
    options = K8sOptions(namespace="ai", api_replicas=3, postgres_host="pg.db", redis_host="rd")
    export = export_k8s(Settings(home=tmp_path), out, config_path=live_config, options=options)
    assert sorted(p.name for p in export.files) == [
        "README.md",
        "litellm-config.yaml",
        "mpc-api.yaml",
        "secrets.yaml",
        "values-litellm.yaml",
    ]
    checked = validate_k8s(out)
    assert sorted(checked) == sorted(
        [
            "litellm-config.yaml: ConfigMap/mpc-litellm-config",
            "mpc-api.yaml: Deployment/mpc-api",
            "mpc-api.yaml: Service/mpc-api",
            "mpc-api.yaml: PodDisruptionBudget/mpc-api",
            "mpc-api.yaml: HorizontalPodAutoscaler/mpc-api",
            "secrets.yaml: Secret/mpc-litellm-env",
            "secrets.yaml: Secret/mpc-litellm-db",
            "secrets.yaml: Secret/mpc-mpc-api",
        ]
    )

    # the generated config, for several replicas: limits and cooldowns shared through Redis
    (configmap,) = _docs(out / "litellm-config.yaml")
    config = yaml.safe_load(configmap["data"]["config.yaml"])
    assert config["model_list"] == LIVE_CONFIG["model_list"]
    assert config["router_settings"]["redis_host"] == "os.environ/REDIS_HOST"
    assert configmap["metadata"]["namespace"] == "ai"

    # keys only from Secrets, and the Secrets hold no value
    secrets = {doc["metadata"]["name"]: doc for doc in _docs(out / "secrets.yaml")}
    env_keys = secrets["mpc-litellm-env"]["stringData"]
    assert set(env_keys) == {
        "COMETAPI_KEY",
        "FAL_KEY",
        "LITELLM_MASTER_KEY",
        "LITELLM_SALT_KEY",
        "REDIS_PASSWORD",
    }
    assert all(value == "" for doc in secrets.values() for value in doc["stringData"].values())

    values = yaml.safe_load((out / "values-litellm.yaml").read_text(encoding="utf-8"))
    assert values["replicaCount"] == 2 and values["autoscaling"]["minReplicas"] == 2
    assert values["proxyConfigMap"] == {
        "create": False,
        "name": "mpc-litellm-config",
        "key": "config.yaml",
    }
    assert values["masterkeySecretName"] == "mpc-litellm-env"
    assert values["environmentSecrets"] == ["mpc-litellm-env"]
    assert values["db"]["useExisting"] and not values["db"]["deployStandalone"]
    assert (
        values["db"]["endpoint"] == "pg.db" and values["db"]["secret"]["name"] == "mpc-litellm-db"
    )
    assert values["redis"] == {"enabled": False} and values["envVars"]["REDIS_HOST"] == "rd"
    assert values["image"]["tag"] == "main-v1.108.7"

    manifests = {doc["kind"]: doc for doc in _docs(out / "mpc-api.yaml")}
    deployment = manifests["Deployment"]["spec"]
    assert deployment["replicas"] == 3
    (container,) = deployment["template"]["spec"]["containers"]
    readiness = " ".join(container["readinessProbe"]["exec"]["command"])
    assert "http://127.0.0.1:3000/health'" in readiness and "MPC_API_KEY" in readiness
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/liveliness"
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env["MPC_GATEWAY_URL"] == "http://mpc-litellm:4000"
    assert manifests["PodDisruptionBudget"]["spec"]["minAvailable"] == 1
    assert manifests["HorizontalPodAutoscaler"]["spec"]["minReplicas"] == 3
    assert manifests["Service"]["spec"]["ports"][0]["port"] == 3000
    assert "LITELLM_MASTER_KEY=" not in "".join(p.read_text() for p in export.files)


def test_a_config_aimed_at_the_sandbox_is_refused(tmp_path: Path) -> None:
    local = json.loads(json.dumps(LIVE_CONFIG))
    local["model_list"][0]["litellm_params"]["api_base"] = "http://127.0.0.1:43811/v1"
    path = tmp_path / "litellm.yaml"
    path.write_text(yaml.safe_dump(local), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"aims at the local sandbox .*mpc gateway config"):
        export_k8s(Settings(home=tmp_path), tmp_path / "k8s", config_path=path)
    with pytest.raises(ConfigError, match=r"no gateway config \(run `mpc gateway config`\)"):
        export_k8s(Settings(home=tmp_path), tmp_path / "k8s")


def test_the_validator_catches_a_broken_manifest(tmp_path: Path, live_config: Path) -> None:
    out = tmp_path / "k8s"
    export_k8s(Settings(home=tmp_path), out, config_path=live_config)
    docs = _docs(out / "mpc-api.yaml")
    docs[0]["spec"]["replicas"] = "two"
    (out / "mpc-api.yaml").write_text(yaml.safe_dump_all(docs), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"Deployment/mpc-api is not valid Kubernetes .*replicas"):
        validate_k8s(out)
    docs[0]["spec"]["replicas"] = 2
    docs[2]["spec"]["minAvailabel"] = 1  # a typo strict validation refuses
    (out / "mpc-api.yaml").write_text(yaml.safe_dump_all(docs), encoding="utf-8")
    with pytest.raises(ConfigError, match="PodDisruptionBudget/mpc-api"):
        validate_k8s(out)


def test_a_kind_without_a_schema_is_refused() -> None:
    unknown = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    with pytest.raises(ConfigError, match=r"^Widget/w: no schema to check it against: Couldn't"):
        validate_manifest(unknown)


def test_the_cli_writes_and_validates(tmp_path: Path, live_config: Path) -> None:
    out = tmp_path / "k8s"
    done = mpc("stack", "export", "--k8s", str(out), "--config", str(live_config),
               "--replicas", "3", "--json", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert len(result["validated"]) == 8 and len(result["files"]) == 5
    bad = mpc("stack", "export", "--k8s", str(out), "--config", str(tmp_path / "missing.yaml"),
              cwd=tmp_path)  # fmt: skip
    assert bad.returncode == 2 and "run `mpc gateway config`" in bad.stderr


# --- the restricted Pod Security level, for every manifest the workbook writes ----------------


def _every_generated(tmp_path: Path, live_config: Path) -> dict[str, list[dict]]:
    """Every document `mpc stack export --k8s` and `mpc schedule add --target k8s` write."""
    out = tmp_path / "k8s"
    export_k8s(Settings(home=tmp_path), out, config_path=live_config)
    found = {path.name: _docs(path) for path in sorted(out.glob("*.yaml"))}
    specs = [
        ScheduleSpec(cron="0 6 * * *", target="k8s", notebook="catalog_sync", deadline_s=600),
        ScheduleSpec(cron="@daily", target="k8s", notebook_set="daily", timezone="Europe/Paris"),
        ScheduleSpec(cron="0 6 * * *", target="k8s", notebook="catalog_sync",
                     image="registry.example/mpc@sha256:" + "ab" * 32),
    ]  # fmt: skip
    for number, spec in enumerate(specs):
        (text,) = render_schedule(spec, Settings(home=tmp_path)).files.values()
        found[f"cronjob-{number}"] = _docs_of(text)
    return found


def _docs_of(text: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def _walk(node: object, at: str = "") -> list[tuple[str, object]]:
    """Every (path, value) pair of a YAML tree."""
    if isinstance(node, dict):
        return [pair for key, value in node.items() for pair in _walk(value, f"{at}.{key}")]
    if isinstance(node, list):
        return [pair for i, value in enumerate(node) for pair in _walk(value, f"{at}[{i}]")]
    return [(at, node)]


def test_every_generated_manifest_is_fit_for_the_restricted_level(
    tmp_path: Path, live_config: Path
) -> None:
    generated = _every_generated(tmp_path, live_config)
    pods = 0
    for name, docs in generated.items():
        for doc in docs:
            if name.startswith("values-"):
                continue
            assert restricted_violations(doc) == [], (name, doc["metadata"]["name"])
            assert validate_manifest(doc).endswith("(strict): ok")
            pods += doc["kind"] in ("Deployment", "CronJob")
            for at, value in _walk(doc):
                if at.endswith(".image"):
                    assert check_image(str(value), option="image") == value, (name, at)
    assert pods == 4  # the MPC-API Deployment and the three CronJobs were checked

    # No generated Secret reference is optional: env, envFrom and volumes, in every file.
    optional = [
        (name, at)
        for name, docs in generated.items()
        for at, value in _walk(docs)
        if at.endswith(".optional") and value is not False
    ]
    assert optional == []
    refs = [at for docs in generated.values() for at, _ in _walk(docs) if "secretRef" in at]
    assert refs, "no Secret reference was walked"

    # The chart's pods, as the values file writes them: LiteLLM's non-root image, pinned.
    (values,) = generated["values-litellm.yaml"]
    assert values["image"] == {"repository": "ghcr.io/berriai/litellm-non_root",
                               "tag": "main-v1.108.7", "pullPolicy": "IfNotPresent"}  # fmt: skip
    assert values["podSecurityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = values["securityContext"]  # the migration Job gets only this one: complete
    assert context["runAsNonRoot"] is True and context["runAsUser"] == 65534
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    for resources in (values["resources"], values["migrationJob"]["resources"]):
        assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}


def test_the_deployment_and_its_init_container_are_restricted(
    tmp_path: Path, live_config: Path
) -> None:
    out = tmp_path / "k8s"
    export_k8s(Settings(home=tmp_path), out, config_path=live_config)
    pod = _docs(out / "mpc-api.yaml")[0]["spec"]["template"]["spec"]
    assert "*id0" not in (out / "mpc-api.yaml").read_text()  # no YAML alias between containers
    assert pod["securityContext"] == {
        "runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }  # fmt: skip
    (init,) = pod["initContainers"]
    (api,) = pod["containers"]
    for container in (init, api):
        assert container["image"] == f"mpc-workbench/mpc-api:{IMAGE_TAG}"
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert container["resources"]["limits"] == {"cpu": "1", "memory": "512Mi"}
        assert container["resources"]["requests"] == {"cpu": "100m", "memory": "256Mi"}
    assert version("mpc-workbench") == IMAGE_TAG  # the package version tags the images


def _deployment(tmp_path: Path, live_config: Path) -> dict:
    out = tmp_path / "k8s"
    export_k8s(Settings(home=tmp_path), out, config_path=live_config)
    return _docs(out / "mpc-api.yaml")[0]


def _pod(doc: dict) -> dict:
    return doc["spec"]["template"]["spec"]


def _no_seccomp(doc: dict) -> None:
    del _pod(doc)["securityContext"]["seccompProfile"]
    del _pod(doc)["containers"][0]["securityContext"]["seccompProfile"]


def _privileged(doc: dict) -> None:
    _pod(doc)["containers"][0]["securityContext"]["privileged"] = True


def _init_without_limits(doc: dict) -> None:
    del _pod(doc)["initContainers"][0]["resources"]["limits"]


def _root_user(doc: dict) -> None:
    _pod(doc)["securityContext"]["runAsUser"] = 0


def _host_path(doc: dict) -> None:
    _pod(doc)["volumes"].append({"name": "host", "hostPath": {"path": "/var/run"}})


def _nfs(doc: dict) -> None:
    _pod(doc)["volumes"].append({"name": "share", "nfs": {"server": "nas", "path": "/x"}})


def _added_capability(doc: dict) -> None:
    _pod(doc)["containers"][0]["securityContext"]["capabilities"]["add"] = ["SYS_ADMIN"]


def _escalation(doc: dict) -> None:
    del _pod(doc)["initContainers"][0]["securityContext"]["allowPrivilegeEscalation"]


def _host_network(doc: dict) -> None:
    _pod(doc)["hostNetwork"] = True


def _optional_secret(doc: dict) -> None:
    _pod(doc)["containers"][0]["envFrom"][0]["secretRef"]["optional"] = True


def _latest(doc: dict) -> None:
    _pod(doc)["initContainers"][0]["image"] = "mpc-workbench/mpc-api:latest"


def _root_allowed(doc: dict) -> None:
    del _pod(doc)["securityContext"]["runAsNonRoot"]
    del _pod(doc)["containers"][0]["securityContext"]["runAsNonRoot"]


_D, _INIT, _API = "Deployment/mpc-api: ", "init container registry: ", "container mpc-api: "


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (_no_seccomp, f"{_D}{_API}securityContext.seccompProfile is set neither here nor for "
                      "the pod (restricted: Seccomp)"),
        (_privileged, f"{_D}{_API}securityContext.privileged must be unset or false "
                      "(baseline: Privileged Containers)"),
        (_init_without_limits, f"{_D}{_INIT}resources: no limits.cpu, limits.memory "
                               "(workbook: resources on every container)"),
        (_root_user, f"{_D}spec.securityContext.runAsUser must not be 0 "
                     "(restricted: Running as Non-root user)"),
        (_host_path, f"{_D}volume host: hostPath is not allowed (baseline: HostPath Volumes)"),
        (_nfs, f"{_D}volume share: nfs is not an allowed volume type (restricted: Volume Types)"),
        (_added_capability, f"{_D}{_API}securityContext.capabilities.add: SYS_ADMIN not allowed "
                            "(only NET_BIND_SERVICE) (restricted: Capabilities)"),
        (_escalation, f"{_D}{_INIT}securityContext.allowPrivilegeEscalation must be false "
                      "(restricted: Privilege Escalation)"),
        (_host_network, f"{_D}spec.hostNetwork must be unset or false "
                        "(baseline: Host Namespaces)"),
        (_optional_secret, f"{_D}{_API}envFrom secretRef mpc-mpc-api: optional must not be true "
                           "(workbook: Secret references required)"),
        (_latest, f"{_D}{_INIT}image 'mpc-workbench/mpc-api:latest' uses :latest "
                  "(workbook: images pinned to a version)"),
        (_root_allowed, f"{_D}{_API}securityContext.runAsNonRoot is set neither here nor for the "
                        "pod (restricted: Running as Non-root)"),
    ],
    ids=lambda value: getattr(value, "__name__", "")[1:] or None,
)  # fmt: skip
def test_a_broken_manifest_is_named_by_kind_container_field_and_rule(
    tmp_path: Path, live_config: Path, breakage: object, message: str
) -> None:
    doc = _deployment(tmp_path, live_config)
    breakage(doc)  # type: ignore[operator]
    assert restricted_violations(doc) == [message]
    with pytest.raises(ConfigError) as caught:
        check_restricted(doc, where="mpc-api.yaml")
    assert str(caught.value) == (
        f"mpc-api.yaml: not fit for the restricted Pod Security level: {message}"
    )


def test_the_checker_reads_every_workload_kind_and_skips_the_rest() -> None:
    bare = {"containers": [{"name": "c", "image": "busybox:1.37.0"}]}
    workloads = {
        "Pod": {"spec": bare},
        "Job": {"spec": {"template": {"spec": bare}}},
        "StatefulSet": {"spec": {"template": {"spec": bare}}},
        "DaemonSet": {"spec": {"template": {"spec": bare}}},
        "CronJob": {"spec": {"jobTemplate": {"spec": {"template": {"spec": bare}}}}},
    }
    for kind, body in workloads.items():
        problems = restricted_violations({"kind": kind, "metadata": {"name": "w"}, **body})
        rules = [problem.rsplit("(", 1)[1] for problem in problems]
        assert rules == [
            "restricted: Privilege Escalation)", "restricted: Running as Non-root)",
            "restricted: Seccomp)", "restricted: Capabilities)",
            "workbook: resources on every container)",
        ], kind  # fmt: skip
        assert all(problem.startswith(f"{kind}/w: container c: ") for problem in problems)
    assert restricted_violations({"kind": "Service", "metadata": {"name": "s"}}) == []
    assert check_restricted({"kind": "ConfigMap"}) == "restricted Pod Security (1.30.0): ok"


@pytest.mark.parametrize(
    ("image", "problem"),
    [
        ("mpc-workbench/workbook:0.1.0", None),
        ("registry.example:5000/team/mpc:2026.1-rc1", None),
        ("registry.example/mpc@sha256:" + "0f" * 32, None),
        ("registry.example/mpc:1.0@sha256:" + "0f" * 32, None),
        ("mpc-workbench/workbook", "has no tag (which means :latest)"),
        ("registry.example:5000/mpc", "has no tag (which means :latest)"),
        ("mpc-workbench/workbook:latest", "uses :latest"),
        ("mpc:", "has an invalid tag ''"),
        ("mpc@sha256:abc", "has an invalid digest 'sha256:abc'"),
        ("", "is not an image name"),
    ],
)
def test_images_must_name_a_version(image: str, problem: str | None) -> None:
    if problem is None:
        assert check_image(image, option="--image") == image
        return
    with pytest.raises(ConfigError) as caught:
        check_image(image, option="--image")
    assert str(caught.value).startswith(f"--image {image!r} {problem}; pin a version, e.g. ")


def test_validate_k8s_fails_loudly_on_a_manifest_or_values_below_the_level(
    tmp_path: Path, live_config: Path
) -> None:
    out = tmp_path / "k8s"
    export_k8s(Settings(home=tmp_path), out, config_path=live_config)
    docs = _docs(out / "mpc-api.yaml")
    del _pod(docs[0])["initContainers"][0]["resources"]
    (out / "mpc-api.yaml").write_text(yaml.safe_dump_all(docs), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^mpc-api\.yaml: not fit for the restricted Pod "
                       r"Security level: Deployment/mpc-api: init container registry: "
                       r"resources: no requests\.cpu"):  # fmt: skip
        validate_k8s(out)

    export_k8s(Settings(home=tmp_path), out, config_path=live_config)
    values = yaml.safe_load((out / "values-litellm.yaml").read_text(encoding="utf-8"))
    del values["securityContext"]["seccompProfile"]
    del values["migrationJob"]["resources"]
    (out / "values-litellm.yaml").write_text(yaml.safe_dump(values), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        validate_k8s(out)
    message = str(caught.value)
    assert message.startswith("values-litellm.yaml (as the chart renders it): not fit for the ")
    # the proxy still has the pod's seccomp; the migration Job has only the container's
    assert "Job/litellm-migrations: container prisma-migrations: securityContext.seccomp" in message
    assert "prisma-migrations: resources: no requests.cpu, requests.memory" in message
    assert "Deployment/litellm" not in message


def test_the_cli_refuses_an_api_image_without_a_version(tmp_path: Path, live_config: Path) -> None:
    out = tmp_path / "k8s"
    done = mpc("stack", "export", "--k8s", str(out), "--config", str(live_config),
               "--api-image", "registry.example/mpc-api:latest", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error: --api-image 'registry.example/mpc-api:latest' uses :latest; pin a version, "
        f"e.g. registry.example/mpc-api:{IMAGE_TAG}"
    ]
    assert not out.exists()
