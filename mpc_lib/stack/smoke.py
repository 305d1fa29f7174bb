"""The smoke test after `up`: every health URL, one chat through MPC-API, the URLs to open.

The chat goes caller -> MPC-API -> LiteLLM -> upstream (the sandbox's OpenAI-compatible
emulator when no provider key is set), so one answer proves the whole chain.  It asks
for a few tokens of a cheap alias; with live keys that is a real (tiny) completion.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ConfigDict, Field, computed_field, field_serializer

from ..config import Secret, Settings
from ..models import MpcModel
from .probe import HttpProbe

__all__ = [
    "DEFAULT_SMOKE_MODEL",
    "HealthTarget",
    "SmokeCheck",
    "SmokeReport",
    "run_smoke",
]

# MPC-API's alias for a small, cheap chat model (mpc_lib/aliases.json).
DEFAULT_SMOKE_MODEL = "text_general_draft"
_CHAT_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class HealthTarget:
    """A URL that must answer 2xx, the key to send (if any), and the URL a person opens."""

    name: str
    health_url: str
    open_url: str | None = None
    key: Secret | None = None


class SmokeCheck(MpcModel):
    """One smoke check: pass, fail or skip, what happened, how long it took.

    Its JSON names the check `check` and rounds the latency to 0.1 ms.
    """

    model_config = ConfigDict(frozen=True)

    name: str = Field(serialization_alias="check")
    status: Literal["pass", "fail", "skip"]
    detail: str
    latency_ms: float | None = None

    @field_serializer("latency_ms")
    def _rounded(self, latency_ms: float | None) -> float | None:
        return None if latency_ms is None else round(latency_ms, 1)


class SmokeReport(MpcModel):
    """Every check, and the URLs to open."""

    model_config = ConfigDict(frozen=True)

    checks: list[SmokeCheck]
    urls: dict[str, str] = Field(default_factory=dict)

    @computed_field
    @property
    def ok(self) -> bool:
        """No check failed."""
        return not any(check.status == "fail" for check in self.checks)


def run_smoke(
    settings: Settings,
    targets: Sequence[HealthTarget],
    *,
    chat_url: str | None = None,
    chat_key: Secret | None = None,
    model: str = DEFAULT_SMOKE_MODEL,
) -> SmokeReport:
    """Probe every target's health URL, then (given `chat_url`) one chat completion."""
    checks: list[SmokeCheck] = []
    with HttpProbe(settings, timeout_s=5.0) as prober:
        for target in targets:
            result = prober.get(target.health_url, key=target.key, name=target.name)
            status: Literal["pass", "fail"] = "pass" if result.ok else "fail"
            checks.append(
                SmokeCheck(
                    name=f"{target.name} health",
                    status=status,
                    detail=f"GET {target.health_url} -> {result.detail}",
                    latency_ms=result.latency_ms,
                )
            )
        if chat_url is not None:
            checks.append(_chat(prober, chat_url, chat_key, model))
    urls = {target.name: target.open_url for target in targets if target.open_url}
    return SmokeReport(checks=checks, urls=urls)


def _chat(prober: HttpProbe, url: str, key: Secret | None, model: str) -> SmokeCheck:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "Reply with one word: ready?"}],
        "max_tokens": 8,
    }
    result = prober.post_json(url, body, key=key, name="mpc-api", timeout_s=_CHAT_TIMEOUT_S)
    if not result.ok:
        return SmokeCheck(
            name="chat via MPC-API",
            status="fail",
            detail=f"POST {url} ({model}) -> {result.detail}",
            latency_ms=result.latency_ms,
        )
    content = _content(result.body)
    if not content:
        return SmokeCheck(
            name="chat via MPC-API",
            status="fail",
            detail=f"POST {url} ({model}) -> 200 without a message",
            latency_ms=result.latency_ms,
        )
    served = result.body.get("model", model) if isinstance(result.body, dict) else model
    return SmokeCheck(
        name="chat via MPC-API",
        status="pass",
        detail=f"{served} answered {content[:40]!r}",
        latency_ms=result.latency_ms,
    )


def _content(body: Any) -> str:
    try:
        return str(body["choices"][0]["message"]["content"] or "").strip()
    except (KeyError, IndexError, TypeError):
        return ""
