"""The stack: compose profiles on Docker or Podman, or the core as local processes.

`compose/compose.yaml` holds four profiles (core, dify, langflow, activepieces) on one
network (Dify's sandbox on an internal one of its own); `init_env` writes its
`compose/.env` with generated secrets; `run_doctor` checks the machine; `bring_up`
chooses the mode (an engine that can run it, else local processes for the core), waits
until healthy and smoke-tests; `stack_status` and `take_down` find what is up.
`LocalStack` supervises any list of `ServiceSpec`s; `core_services` is the core's.
`stack_mermaid` draws the compose model and `export_k8s` writes the core for a
Kubernetes cluster.
"""

from .bringup import (
    RunMode,
    StackRun,
    StackStatus,
    StatusRow,
    bring_up,
    choose_mode,
    smoke_stack,
    stack_status,
    take_down,
)
from .compose import ComposeBinary, compose_binary, link_compose_plugin, validate_compose
from .core import core_services, local_stack
from .diagram import stack_figure, stack_mermaid
from .doctor import DoctorReport, DoctorRow, run_doctor
from .engine import (
    ComposeStack,
    EngineChoice,
    EngineProbe,
    ServiceRow,
    choose_engine,
    probe_engine,
)
from .envfile import EnvCheck, EnvInit, check_env, init_env
from .gateway import ContainerConfig, config_problems, write_container_config
from .images import ImageBuild, build_images
from .k8s import K8sExport, K8sOptions, export_k8s, validate_k8s
from .local import LocalStack, ServiceSpec, ServiceStatus, StopResult, UpReport, UpResult
from .model import (
    PROFILES,
    ComposeService,
    PortBinding,
    StackModel,
    StackPaths,
    check_compose,
    load_stack_model,
    parse_profiles,
)
from .smoke import HealthTarget, SmokeCheck, SmokeReport, run_smoke

__all__ = [
    "PROFILES",
    "ComposeBinary",
    "ComposeService",
    "ComposeStack",
    "ContainerConfig",
    "DoctorReport",
    "DoctorRow",
    "EngineChoice",
    "EngineProbe",
    "EnvCheck",
    "EnvInit",
    "HealthTarget",
    "ImageBuild",
    "K8sExport",
    "K8sOptions",
    "LocalStack",
    "PortBinding",
    "RunMode",
    "ServiceRow",
    "ServiceSpec",
    "ServiceStatus",
    "SmokeCheck",
    "SmokeReport",
    "StackModel",
    "StackPaths",
    "StackRun",
    "StackStatus",
    "StatusRow",
    "StopResult",
    "UpReport",
    "UpResult",
    "bring_up",
    "build_images",
    "check_compose",
    "check_env",
    "choose_engine",
    "choose_mode",
    "compose_binary",
    "config_problems",
    "core_services",
    "export_k8s",
    "init_env",
    "link_compose_plugin",
    "load_stack_model",
    "local_stack",
    "parse_profiles",
    "probe_engine",
    "run_doctor",
    "run_smoke",
    "smoke_stack",
    "stack_figure",
    "stack_mermaid",
    "stack_status",
    "take_down",
    "validate_compose",
    "validate_k8s",
    "write_container_config",
]
