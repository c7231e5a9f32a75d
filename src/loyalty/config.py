"""Settings, read from `LOYALTY_*` environment variables and an optional `loyalty.toml`.

One `Settings` object is built per process (`get_settings`) so that tests can override it by
setting environment variables and clearing the cache.
"""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


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
    api_group_commit: bool = Field(
        default=True,
        description="API: write the POS sales a server process receives at once in one transaction",
    )
    api_telemetry: bool = Field(
        default=False,
        description="API: OpenTelemetry spans, metrics and logs per request (FastAPI's own, through the "
        "globally configured providers); off, no request pays for looking the providers up",
    )

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
