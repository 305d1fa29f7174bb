"""`ProviderClient`: the base of every provider client, one `HttpCore` built from settings."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import ClassVar, Self

import httpx

from ..config import Secret, Settings
from ..providers import AuthScheme
from ._core import HttpCore, QueryLists
from ._retry import SYSTEM_CLOCK, Clock

__all__ = ["ProviderClient"]

log = logging.getLogger("mpc_lib.http")


class ProviderClient:
    """Base of the provider clients: one HttpCore from settings, usable as a context manager."""

    provider: ClassVar[str]
    scheme: ClassVar[AuthScheme]
    headers: ClassVar[Mapping[str, str]] = {}

    def __init__(
        self,
        base_url: str,
        key: Secret | None,
        *,
        settings: Settings | None = None,
        client: httpx.Client | None = None,
        scheme: AuthScheme | None = None,
        query_lists: QueryLists = "repeat",
        key_on_public: bool = False,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        """Per instance, for a gateway in between: `scheme` overrides the provider's auth
        scheme (the gateway takes `Bearer <its key>`), `query_lists` says how lists go into
        a query, `key_on_public` sends the key on public endpoints too; `clock` is the
        retry loop's (tests pass one that does not really wait)."""
        self.settings = settings or Settings()
        # Odd answers that did not stop a call (an entry dropped, has_more...), in arrival order.
        self.warnings: list[str] = []
        self.http = HttpCore.for_settings(
            self.provider,
            self.settings,
            base_url=base_url,
            key=key,
            scheme=scheme or self.scheme,
            client=client,
            query_lists=query_lists,
            key_on_public=key_on_public,
            headers=self.headers,
            clock=clock,
        )

    def _warn(self, message: str) -> None:
        """Record an odd answer that did not stop the call (list.append is thread-safe)."""
        self.warnings.append(message)
        log.warning("%s: %s", self.provider, message)

    @property
    def sandbox_marks(self) -> set[str]:
        """The sandbox marks its answers carried (empty: none came from our sandbox)."""
        return self.http.sandbox_marks

    def close(self) -> None:
        """Close the HTTP core (and its httpx client, if it made one)."""
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
