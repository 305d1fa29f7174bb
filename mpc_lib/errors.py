"""The one error tree of mpc_lib.

    MpcError
    ├── ConfigError            a bad setting, parameter or .env line
    │   └── AliasError         an MPC-API alias names a model the registry or gateway lacks
    ├── TransportError         no answer arrived (timeout, refused, dropped)
    ├── ProviderError          an error answer arrived (3xx/4xx/5xx)
    │   ├── Redirected         3xx: never followed, the message names the Location
    │   ├── AuthError          401/403
    │   ├── NotFound           404
    │   ├── RateLimited        429 that outlived the retries, or asked for too long a wait
    │   └── ServerError        5xx that outlived the retries
    ├── ResponseFormatError    an answer arrived but does not parse or fit the contract
    │   ├── PaginationError    a cursor loop or a broken page chain
    │   └── EmptyCatalog       a provider listed 0 models where the last sync had some
    ├── SyncError              one or more providers failed a catalog sync
    ├── RegistryError          a registry file on disk does not parse or fit
    │   └── RegistryLocked     another sync held the registry lock past the timeout
    ├── StorageError           the disk refused a read or write (permissions, space)
    ├── CostMapError           LiteLLM's bundled cost map does not parse or fit
    ├── SpecError              a file that cannot be read as an OpenAPI document (file:line:col)
    ├── NotebookError          a notebook run failed in a cell (or hit its deadline)
    ├── GatewayError           the LiteLLM gateway process would not start, or died
    ├── RunLocked              another run of the same notebook held its lock past the timeout
    ├── SpecRejected           a spec failed the gate (error findings, breaking changes): not pushed
    ├── ApidogImportFailed     Apidog answered an import with failed counters or errors
    ├── SecretLeaked           a run wrote a configured secret (redacted in place)
    └── StackError             the stack could not be brought up, checked or stopped
        ├── EngineUnavailable  no container engine (or Compose v2) answers
        └── StackUnhealthy     services not healthy within the timeout, or dead at start

Bad arguments to our own functions stay `ValueError`.  Every class carries an
`exit_code`, which the CLI uses (0 ok, 1 OS or lock or a failed gate, 2 bad input,
3 error answer, 4 no answer, 5 malformed answer or file, 6 notebook cell (2 when the
cell failed on a ConfigError: a missing key, a refused sync), 7 a secret in a run's
outputs), and messages never contain secrets.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "AliasError",
    "ApidogImportFailed",
    "AuthError",
    "ConfigError",
    "CostMapError",
    "EmptyCatalog",
    "EngineUnavailable",
    "GatewayError",
    "MpcError",
    "NotFound",
    "NotebookError",
    "PaginationError",
    "ProviderError",
    "RateLimited",
    "Redirected",
    "RegistryError",
    "RegistryLocked",
    "ResponseFormatError",
    "RunLocked",
    "SecretLeaked",
    "ServerError",
    "SpecError",
    "SpecRejected",
    "StackError",
    "StackUnhealthy",
    "StorageError",
    "SyncError",
    "TransportError",
    "describe_validation_error",
]


class MpcError(Exception):
    """Base of every error mpc_lib raises on purpose."""

    exit_code = 1


class ConfigError(MpcError):
    """A setting, parameter or env-file line is missing or malformed."""

    exit_code = 2


class AliasError(ConfigError):
    """An alias of MPC-API names a model missing from the registry or the gateway config."""


class TransportError(MpcError):
    """No answer arrived from a provider: timeout, refused or dropped connection."""

    exit_code = 4

    def __init__(self, provider: str, method: str, path: str, detail: str) -> None:
        self.provider = provider
        self.method = method
        self.path = path
        self.detail = detail
        super().__init__(f"{provider}: no answer for {method} {path}: {detail}")


class ProviderError(MpcError):
    """A provider answered with an error status."""

    exit_code = 3

    def __init__(
        self,
        provider: str,
        status: int,
        method: str,
        path: str,
        *,
        error_type: str | None = None,
        detail: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.provider = provider
        self.status = status
        self.method = method
        self.path = path
        self.error_type = error_type
        self.detail = detail
        self.request_id = request_id
        super().__init__(self._message())

    def _message(self) -> str:
        what = ": ".join(part for part in (self.error_type, self.detail) if part)
        message = f"{self.provider}: {self.status} {self.method} {self.path}"
        if what:
            message += f": {what}"
        return message + f" (request_id={self.request_id or '-'})"


class Redirected(ProviderError):
    """A 3xx answer: never followed (it could carry the key to another host); names `location`."""

    def __init__(
        self,
        provider: str,
        status: int,
        method: str,
        path: str,
        *,
        location: str | None,
        request_id: str | None = None,
    ) -> None:
        self.location = location
        super().__init__(provider, status, method, path, request_id=request_id)

    def _message(self) -> str:
        where = self.location or "(no Location header)"
        return (
            f"{self.provider}: {self.status} {self.method} {self.path} -> {where}"
            f" (request_id={self.request_id or '-'})"
        )


class AuthError(ProviderError):
    """The provider refused the credentials (401) or their scope (403)."""


class NotFound(ProviderError):
    """The provider has no such resource (404)."""


class RateLimited(ProviderError):
    """429 after every retry, or a wait longer than we allow; `retry_after_s` is the asked wait."""

    def __init__(self, *args: Any, retry_after_s: float | None = None, **kwargs: Any) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(*args, **kwargs)


class ServerError(ProviderError):
    """The provider kept failing with 5xx after every retry."""


class ResponseFormatError(MpcError):
    """An answer arrived but does not parse, or does not fit the provider's contract."""

    exit_code = 5
    what = "malformed answer"

    def __init__(
        self, provider: str, path: str, detail: str, *, saved_to: Path | None = None
    ) -> None:
        self.provider = provider
        self.path = path
        self.detail = detail
        self.saved_to = saved_to
        message = f"{provider}: {self.what} from {path}: {detail}"
        if saved_to is not None:
            message += f" (payload saved to {saved_to})"
        super().__init__(message)


class PaginationError(ResponseFormatError):
    """A cursor repeated, or a page chain broke, so the listing cannot be trusted."""

    what = "broken pagination"


class EmptyCatalog(ResponseFormatError):
    """A well-formed but empty listing where the last sync had models: refused, never a wipe."""

    what = "empty catalog"


class SyncError(MpcError):
    """A catalog sync failed; `failures` maps each failed provider to its error.

    Its exit code is the first failed provider's (3 error answer, 4 no answer, 5 malformed).
    """

    def __init__(self, failures: Mapping[str, MpcError]) -> None:
        self.failures = dict(failures)
        lines = "; ".join(f"{name} failed: {err}" for name, err in self.failures.items())
        super().__init__(f"sync failed, registry left untouched. {lines}")

    @property
    def exit_code(self) -> int:  # type: ignore[override]
        """The exit code of the first failure, so `no answer` stays 4 and `malformed` 5."""
        return next((err.exit_code for err in self.failures.values()), 3)


class RegistryError(MpcError):
    """A registry file on disk does not parse or is not a registry; the message names it."""

    exit_code = 5


class RegistryLocked(RegistryError):
    """Another sync held the registry lock for longer than the lock timeout."""

    exit_code = 1


class StorageError(MpcError):
    """The disk refused a read or write (permissions, space, a file where a folder should be)."""

    exit_code = 1


class CostMapError(MpcError):
    """LiteLLM's cost map file does not parse or is not a map of models; names the file."""

    exit_code = 5


class SpecError(MpcError):
    """A file that is not a readable OpenAPI document: bad JSON/YAML, empty, not OpenAPI.

    Bad input (exit 2); the message names the file and, when known, line and column.
    """

    exit_code = 2

    def __init__(
        self, detail: str, *, path: Path | str | None = None, line: int | None = None,
        column: int | None = None,
    ) -> None:  # fmt: skip
        self.path = path
        self.line = line
        self.column = column
        self.detail = detail
        where = str(path) if path is not None else "<spec>"
        if line is not None:
            where += f":{line}" + (f":{column}" if column is not None else "")
        super().__init__(f"{where}: {detail}")


class SpecRejected(MpcError):
    """A spec failed the gate (errors, or breaking changes not allowed): nothing was sent.

    `outcome` carries what the caller may show (the gate report, the diff); exit 1, like
    `mpc spec check` on a failing spec.
    """

    exit_code = 1

    def __init__(self, spec: Path | str, reason: str, outcome: Any = None) -> None:
        self.spec = spec
        self.reason = reason
        self.outcome = outcome
        super().__init__(f"{spec}: refused, nothing was pushed: {reason}")


class ApidogImportFailed(MpcError):
    """Apidog answered an import, but some endpoints, schemas or folders failed (its counters)."""

    exit_code = 3

    def __init__(self, project: str, failed: Mapping[str, int], errors: list[str]) -> None:
        self.project = project
        self.failed = dict(failed)
        self.errors = list(errors)
        counts = ", ".join(f"{name}={count}" for name, count in self.failed.items() if count)
        message = f"apidog: import into project {project} reported failures ({counts or 'errors'})"
        if self.errors:
            message += ": " + "; ".join(self.errors[:3])
        super().__init__(message)


class GatewayError(MpcError):
    """The gateway process exited or did not answer in time; the message quotes its last log."""

    exit_code = 4


class NotebookError(MpcError):
    """A notebook cell raised; the executed notebook was still written to `output_path`.

    Its exit code is 6, or 2 when the cell raised a ConfigError (bad input, as the same
    call from the command line would say: a missing key, a refused sync).
    """

    exit_code = 6

    def __init__(
        self,
        notebook: str,
        cell_index: int | None,
        ename: str,
        evalue: str,
        output_path: Path | None,
        cell_source: str | None = None,
    ) -> None:
        self.notebook = notebook
        self.cell_index = cell_index
        self.ename = ename
        self.evalue = evalue
        self.output_path = output_path
        self.cell_source = cell_source
        where = f"cell {cell_index}" if cell_index is not None else "kernel"
        message = f"notebook {notebook} failed in {where}: {ename}: {evalue}"
        if output_path is not None:
            message += f" (executed notebook: {output_path})"
        super().__init__(message)
        if ename in _config_error_names():
            self.exit_code = ConfigError.exit_code


def _config_error_names() -> set[str]:
    """ConfigError's name and its subclasses' (a kernel reports the class by name)."""
    found, todo = set(), [ConfigError]
    while todo:
        cls = todo.pop()
        found.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return found


class StackError(MpcError):
    """The stack could not be brought up, checked or stopped; the message names the service."""

    exit_code = 1


class EngineUnavailable(StackError):
    """No container engine answers (or it has no Compose v2): nothing to run containers on."""

    exit_code = 4


class StackUnhealthy(StackError):
    """Services did not turn healthy within the timeout, or exited while starting."""

    exit_code = 4

    def __init__(self, message: str, services: Mapping[str, str]) -> None:
        self.services = dict(services)
        super().__init__(message)


class RunLocked(MpcError):
    """Another run of the same notebook held its lock for longer than the lock timeout."""

    exit_code = 1

    def __init__(self, notebook: str, waited_s: float, lock_path: Path, holder: str) -> None:
        self.notebook = notebook
        self.waited_s = waited_s
        self.lock_path = lock_path
        super().__init__(
            f"notebook {notebook} is already running ({holder}); gave up after waiting "
            f"{waited_s:g}s (lock {lock_path}; MPC_RUN_LOCK_TIMEOUT_S sets the wait)"
        )


class SecretLeaked(MpcError):
    """A run wrote a configured secret into its outputs; it was redacted in place."""

    exit_code = 7

    def __init__(self, notebook: str, hits: Mapping[str, list[str]], also: str = "") -> None:
        self.notebook = notebook
        self.hits = {path: list(names) for path, names in hits.items()}
        where = "; ".join(f"{path} ({', '.join(names)})" for path, names in self.hits.items())
        message = f"notebook {notebook} wrote a secret, now redacted, to: {where}"
        super().__init__(message + (f"; also: {also}" if also else ""))


def describe_validation_error(error: Mapping[str, Any]) -> str:
    """A short reason for one pydantic error (`must be at least 1`), for ConfigError messages."""
    ctx = error.get("ctx") or {}
    reasons = {
        "greater_than_equal": f"must be at least {ctx.get('ge')}",
        "greater_than": f"must be more than {ctx.get('gt')}",
        "less_than_equal": f"must be at most {ctx.get('le')}",
        "less_than": f"must be less than {ctx.get('lt')}",
        "finite_number": "must be a finite number",
        "float_parsing": "expected a number",
        "float_type": "expected a number",
        "int_parsing": "expected a whole number",
        "int_from_float": "expected a whole number",
        "int_type": "expected a whole number",
        "bool_parsing": "expected a bool (true/false/yes/no/1/0)",
        "bool_type": "expected a bool (true/false/yes/no/1/0)",
        "list_type": "expected a list (a,b or a JSON list)",
        "dict_type": "expected a JSON object",
        "string_type": "expected a string",
        "literal_error": f"expected one of {ctx.get('expected')}",
        "extra_forbidden": "unknown setting",
        "string_pattern_mismatch": f"must match {ctx.get('pattern')}",
    }
    kind = str(error.get("type"))
    if kind in reasons:
        return reasons[kind]
    return str(error.get("msg", "invalid value")).removeprefix("Value error, ")
