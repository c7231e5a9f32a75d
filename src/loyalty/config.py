"""Settings, read from `LOYALTY_*` environment variables and an optional `loyalty.toml`.

One `Settings` object is built per process (`get_settings`) so that tests can override it by
setting environment variables and clearing the cache.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class InvalidProxy(ValueError):
    """A trusted-proxy entry that is neither an IP address, a network nor `*` alone."""

    def __init__(self, entry: str) -> None:
        super().__init__(f"{entry!r} is not an IP address or network (or `*` alone)")
        self.entry = entry


def parse_proxies(value: object) -> tuple[str, ...]:
    """`10.0.0.1, 10.1.0.0/16` (the environment's form) or a list (TOML); each entry an IP address or
    network, written normalised, or `*` alone. A typo raises `InvalidProxy`: a name that is no address
    would otherwise be compared as text and never match, leaving the proxy silently untrusted."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list | tuple):
        raise InvalidProxy(str(value))
    entries = [str(item).strip() for item in value if str(item).strip()]
    if entries == ["*"]:
        return ("*",)
    out = []
    for entry in entries:
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError as exc:
            raise InvalidProxy(entry) from exc
        out.append(str(network.network_address) if network.num_addresses == 1 else str(network))
    return tuple(out)


class Settings(BaseSettings):
    """Programme-wide settings; per-store values (timezone) live on the store itself."""

    model_config = SettingsConfigDict(env_prefix="LOYALTY_", toml_file="loyalty.toml", extra="ignore")

    database_url: str = Field(
        default="sqlite:///var/loyalty.db",
        description="SQLAlchemy URL of the one database the demo and every command use (relative to the "
        "working directory); `loyalty db upgrade` creates it",
    )
    currency: str = Field(default="CNY", min_length=3, max_length=3)
    timezone: str = "Asia/Shanghai"
    locale: str = "zh-CN"
    phone_region: str = "CN"
    secret_key: str = Field(default="change-me-in-production-please-32bytes!", min_length=16)
    sql_echo: bool = False
    redis_url: str | None = Field(
        default=None, description="Redis for rate limits shared by all API workers (redis://host:6379/0)"
    )
    job_range_size: int = Field(
        default=100_000,
        ge=1,
        description="Expiry and tier jobs: ids per range, each range one transaction (services.id_ranges)",
    )
    job_workers: int = Field(
        default=2,
        ge=1,
        le=64,
        description="PostgreSQL: ranges of a job run side by side on this many connections",
    )
    claim_window_days: int = Field(
        default=30,
        ge=0,
        description="Days after an anonymous sale in which a member may claim it with the receipt "
        "(services.purchase_claims)",
    )
    clock_skew_seconds: int = Field(
        default=300,
        ge=0,
        le=86_400,
        description="How far ahead of the server's clock a sale's or return's time may be (a till's clock "
        "runs fast); later is refused, by the API and by imports",
    )
    backdate_days: int = Field(
        default=30,
        ge=0,
        le=36_500,
        description="API: how many days back a sale or return may be dated (a till that was offline); "
        "older history comes in by import, which has no such limit",
    )
    catalogue_check_seconds: float = Field(
        default=1.0,
        ge=0,
        le=3_600,
        description="Server: how often each process looks whether another process changed a store, the "
        "programme, a tier or a rule, and then reads them afresh; 0: only when it is restarted",
    )
    api_group_commit: bool = Field(
        default=True,
        description="API: write the POS sales a server process receives at once in one transaction",
    )
    api_telemetry: bool = Field(
        default=False,
        description="API: OpenTelemetry spans, metrics and logs per request (FastAPI's own, through the "
        "globally configured providers); off, no request pays for looking the providers up",
    )
    api_max_body_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        description="API: the largest request body accepted, in bytes; a larger one is answered 413 before "
        "it is read (imports are files read by the CLI, not bodies)",
    )
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Addresses or networks (comma-separated) of the reverse proxies in front of the API "
        "whose X-Forwarded-For and X-Forwarded-Proto are believed; none by default, so the address a "
        "rate limit counts is the connecting peer's. `*` trusts every peer",
    )

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxy_list(cls, value: object) -> tuple[str, ...]:
        return parse_proxies(value)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (KeyError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls), file_secret_settings)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
