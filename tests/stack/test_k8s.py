"""`mpc stack export --k8s`: chart values and MPC-API manifests, valid against the schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from cli_runner import mpc

from mpc_lib.config import Settings
from mpc_lib.errors import ConfigError
from mpc_lib.kubernetes import validate_manifest
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
