"""Typed settings, read from the environment (prefix ``ONEMAP_``), checked at start-up."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent


class Settings(BaseSettings):
    """Everything an operator can set; each field is ``ONEMAP_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="ONEMAP_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="postgresql://... for PostGIS; unset means the embedded GeoPackage",
    )
    data_dir: Path = Field(default=Path("var"), description="GeoPackage, DEM, caches, job files")
    public_url: str | None = Field(
        default=None,
        description="the URL clients use, including any mount prefix; default http://HOST:PORT",
    )
    catalogue: Path = Field(default=PACKAGE_DIR / "catalogue.yaml")
    codes_dir: Path = Field(default=PACKAGE_DIR / "codes")

    demo_parcels: int = Field(default=20000, ge=500, le=20_000_000)
    demo_seed: int = 2024

    default_items: int = Field(default=10, ge=1)
    max_items: int = Field(default=10000, ge=1)
    gzip_min_bytes: int = Field(default=1400, ge=0, description="compress bodies above this size")
    count_max_cost: float = Field(
        default=20_000.0,
        ge=0,
        description="PostGIS: numberMatched is counted when the planner's cost for counting is at most "
                    "this (cost units), and estimated otherwise",
    )
    count_max_rows: int = Field(default=10_000, ge=0,
                                description="PostGIS: ... and when it expects at most this many matches")
    pg_parallel_workers: int = Field(
        default=0, ge=0, le=64,
        description="PostGIS: workers PostgreSQL may add to one query (max_parallel_workers_per_gather). "
                    "0 by default: a server's requests already run side by side on every core, and a "
                    "query split across cores then only waits on its gather (z12 tiles: 2.6x the rate with 0)",
    )
    tile_cache: bool = Field(default=True, description="cache rendered vector tiles under data_dir/tiles")

    job_time_limit: float = Field(default=600.0, gt=0, description="seconds a process may run")
    job_lease_seconds: float = Field(default=30.0, gt=1,
                                     description="a running job whose worker reports nothing this long is taken back")
    job_max_attempts: int = Field(default=2, ge=1, description="tries of a job whose worker died")
    job_workers: int = Field(default=1, ge=0, description="async job threads per server process (0: only `onemap worker`)")
    job_keep_sync_hours: float = Field(default=24.0, gt=0, description="retention of synchronous executions")
    job_keep_async_days: float = Field(default=7.0, gt=0, description="retention of asynchronous jobs")
    max_boundary_vertices: int = Field(default=100_000, ge=4)
    max_boundary_km2: float = Field(default=2_000.0, gt=0)
    max_search_km2: float = Field(default=5_000.0, gt=0)
    compliance_rules: Path = Field(default=PACKAGE_DIR / "compliance_rules.yaml",
                                   description="the rules of compliance-review (data, see the file's header)")
    dem: Path | None = Field(default=None, description="the DEM (slope for site selection); default data_dir/dem.tif")
    pretty_print: bool = False
    log_level: str = "INFO"
    timezone: str = Field(default="Asia/Shanghai", description="dates of plans are local dates")

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, v: str | None) -> str | None:
        return v.rstrip("/") if v else v

    @model_validator(mode="after")
    def _limits(self) -> "Settings":
        if self.default_items > self.max_items:
            raise ValueError(
                f"ONEMAP_DEFAULT_ITEMS ({self.default_items}) is above ONEMAP_MAX_ITEMS ({self.max_items})"
            )
        return self

    @property
    def backend(self) -> str:
        """``postgis`` or ``gpkg``."""
        return "postgis" if self.database_url else "gpkg"

    @property
    def gpkg_path(self) -> Path:
        return self.data_dir / "onemap.gpkg"

    @property
    def dem_path(self) -> Path:
        return self.dem or self.data_dir / "dem.tif"

    @property
    def store_url(self) -> str:
        """What providers receive as their ``data``: a database URL or the GeoPackage path."""
        return self.database_url or str(self.gpkg_path.resolve())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once; tests build their own ``Settings``)."""
    return Settings()
