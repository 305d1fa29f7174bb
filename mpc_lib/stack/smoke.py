"""The smoke test after `up`: every health URL, one chat through MPC-API, the URLs to open.

The chat goes caller -> MPC-API -> LiteLLM -> upstream (the sandbox's OpenAI-compatible
emulator when no provider key is set), so one answer proves the whole chain.  It asks
for a few tokens of a cheap alias; with live keys that is a real (tiny) completion.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..config import Secret, Settings
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


@dataclass(frozen=True)
class SmokeCheck:
    """One smoke check: pass, fail or skip, what happened, how long it took."""

    name: str
    status: Literal["pass", "fail", "skip"]
    detail: str
    latency_ms: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The check as JSON-ready data."""
        latency = None if self.latency_ms is None else round(self.latency_ms, 1)
        return {
            "check": self.name,
            "status": self.status,
            "detail": self.detail,
            "latency_ms": latency,
        }


@dataclass(frozen=True)
class SmokeReport:
    """Every check, and the URLs to open."""

    checks: list[SmokeCheck]
    urls: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """No check failed."""
        return not any(check.status == "fail" for check in self.checks)

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "ok": self.ok,
            "checks": [check.to_json() for check in self.checks],
            "urls": self.urls,
        }


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
                    f"{target.name} health",
                    status,
                    f"GET {target.health_url} -> {result.detail}",
                    result.latency_ms,
                )
            )
        if chat_url is not None:
            checks.append(_chat(prober, chat_url, chat_key, model))
    urls = {target.name: target.open_url for target in targets if target.open_url}
    return SmokeReport(checks, urls)


def _chat(prober: HttpProbe, url: str, key: Secret | None, model: str) -> SmokeCheck:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "Reply with one word: ready?"}],
        "max_tokens": 8,
    }
    result = prober.post_json(url, body, key=key, name="mpc-api", timeout_s=_CHAT_TIMEOUT_S)
    if not result.ok:
        return SmokeCheck(
            "chat via MPC-API",
            "fail",
            f"POST {url} ({model}) -> {result.detail}",
            result.latency_ms,
        )
    content = _content(result.body)
    if not content:
        return SmokeCheck(
            "chat via MPC-API",
            "fail",
            f"POST {url} ({model}) -> 200 without a message",
            result.latency_ms,
        )
    served = result.body.get("model", model) if isinstance(result.body, dict) else model
    return SmokeCheck(
        "chat via MPC-API", "pass", f"{served} answered {content[:40]!r}", result.latency_ms
    )


def _content(body: Any) -> str:
    try:
        return str(body["choices"][0]["message"]["content"] or "").strip()
    except (KeyError, IndexError, TypeError):
        return ""
