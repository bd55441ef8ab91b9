"""Typed settings: the only place OneMap reads its environment, checked at start-up.

One class, its fields grouped by concern (``SECTIONS``); each field is ``ONEMAP_<NAME>`` in the
environment (upstream service keys keep their own names, e.g. ``TIANDITU_KEY``). Code reads a
concern through its section (``settings.jobs.time_limit``) or a field directly; a mistake (a
default page above the maximum, a negative limit) stops the process when it starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class StoreSection:
    """Where the one map is kept and how the store is tuned."""

    database_url: str | None
    data_dir: Path
    count_max_cost: float
    count_max_rows: int
    pg_parallel_workers: int


@dataclass(frozen=True)
class JobSection:
    """How process jobs run and how long they are kept."""

    time_limit: float
    lease_seconds: float
    max_attempts: int
    workers: int
    keep_sync_hours: float
    keep_async_days: float


@dataclass(frozen=True)
class ProcessSection:
    """The processes' inputs and rules."""

    max_boundary_vertices: int
    max_boundary_km2: float
    max_search_km2: float
    compliance_rules: Path
    qc_rules: Path | None
    dem: Path
    land_audit_rules: Path


@dataclass(frozen=True)
class AccessSection:
    """Who may call: the identity provider, origins, limits and the audit trail's retention."""

    oidc_issuer: str | None
    oidc_audience: str | None
    oidc_jwks_url: str | None
    oidc_role_claim: str
    oidc_region_claim: str
    cors_origins: tuple[str, ...]
    audit_keep_days: float
    rate_limit: str
    rate_limit_execute: str
    jobs_per_day: int
    heavy_slots: int
    rate_limit_storage: str


@dataclass(frozen=True)
class BasemapSection:
    """MapProxy's basemaps and the upstream services' keys."""

    definitions: Path
    keys: dict[str, str]
    demo_service: bool


class Settings(BaseSettings):
    """Everything an operator can set; each field is ``ONEMAP_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="ONEMAP_", extra="ignore", populate_by_name=True)

    # ---- store -------------------------------------------------------------------------------
    database_url: str | None = Field(
        default=None,
        description="postgresql://... for PostGIS; unset means the embedded GeoPackage",
    )
    data_dir: Path = Field(default=Path("var"), description="GeoPackage, DEM, caches")
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

    # ---- catalogue and codes ---------------------------------------------------------------------
    catalogue: Path = Field(default=PACKAGE_DIR / "catalogue.yaml")
    codes_dir: Path = Field(default=PACKAGE_DIR / "codes")

    # ---- demo -------------------------------------------------------------------------------------
    demo_parcels: int = Field(default=20000, ge=500, le=20_000_000)
    demo_seed: int = 2024

    # ---- serving ----------------------------------------------------------------------------------
    public_url: str | None = Field(
        default=None,
        description="the URL clients use, including any mount prefix; default http://HOST:PORT",
    )
    default_items: int = Field(default=10, ge=1)
    max_items: int = Field(default=10000, ge=1)
    download_max_features: int = Field(
        default=100_000, ge=1, le=10_000_000,
        description="most features one download (f=csv, gpkg, shp, fgb) may hold; more is a 400. 100,000 holds a "
                    "county's survey parcels or a city's planned land use in one file (about 100 MB of GeoPackage, "
                    "under a minute on 2 cores) while bounding the temporary disk and the time a worker is held; "
                    "larger extracts page through the items (GDAL's OAPIF driver) or come from the bureau's exchange")
    gzip_min_bytes: int = Field(default=1400, ge=0, description="compress bodies above this size")
    pretty_print: bool = False
    log_level: str = "INFO"
    timezone: str = Field(default="Asia/Shanghai", description="dates of plans are local dates")
    debug: bool = Field(default=False, description="command line: print the traceback of an error")
    pygeoapi_overlay: Path | None = Field(
        default=None, description="a pygeoapi configuration whose resources are served beside the one-map layers")

    # ---- tiles ------------------------------------------------------------------------------------
    tile_cache: bool = Field(default=True, description="cache rendered vector tiles under data_dir/tiles")

    # ---- jobs -------------------------------------------------------------------------------------
    job_time_limit: float = Field(default=600.0, gt=0, description="seconds a process may run")
    job_lease_seconds: float = Field(default=30.0, gt=1,
                                     description="a running job whose worker reports nothing this long is taken back")
    job_max_attempts: int = Field(default=2, ge=1, description="tries of a job whose worker died")
    job_workers: int = Field(default=1, ge=0, description="async job threads per server process (0: only `onemap worker`)")
    job_keep_sync_hours: float = Field(default=24.0, gt=0, description="retention of synchronous executions")
    job_keep_async_days: float = Field(default=7.0, gt=0, description="retention of asynchronous jobs")

    # ---- processes --------------------------------------------------------------------------------
    max_boundary_vertices: int = Field(default=100_000, ge=4)
    max_boundary_km2: float = Field(default=2_000.0, gt=0)
    max_search_km2: float = Field(default=5_000.0, gt=0)
    compliance_rules: Path = Field(default=PACKAGE_DIR / "compliance_rules.yaml",
                                   description="the rules of compliance-review (data, see the file's header)")
    qc_rules: Path | None = Field(default=None, description="a province's own qc.yaml, merged onto OneMap's")
    dem: Path | None = Field(default=None, description="the DEM (slope for site selection); default data_dir/dem.tif")
    land_audit_rules: Path = Field(default=PACKAGE_DIR / "land_audit.yaml",
                                   description="what the land audit counts as 批而未供, 供而未用, 闲置 (data, see the file)")

    # ---- warnings (预警) ----------------------------------------------------------------------------
    warning_rules: Path = Field(default=PACKAGE_DIR / "warnings.yaml",
                                description="what becomes a warning and how deliveries retry (data, see the file)")
    monitoring_rules: Path = Field(default=PACKAGE_DIR / "monitoring.yaml",
                                   description="what change detection reports between two surveys (data, see the file)")
    webhook_allow: list[str] = Field(
        default_factory=list, description="private networks (CIDR, e.g. 10.8.0.0/16) and host:port pairs webhooks may "
                                          "reach besides public addresses (JSON list): a bureau's own receivers")

    # ---- access -----------------------------------------------------------------------------------
    oidc_issuer: str | None = Field(default=None, description="the OpenID Connect issuer whose JWTs are accepted")
    oidc_audience: str | None = Field(default=None, description="the audience those JWTs must name")
    oidc_jwks_url: str | None = Field(default=None, description="the issuer's JWKS (default: from its discovery)")
    oidc_role_claim: str = Field(default="onemap_role", description="the claim holding the OneMap role(s)")
    oidc_region_claim: str = Field(default="onemap_region", description="the claim limiting a user to a region")
    cors_origins: list[str] = Field(
        default_factory=list, description="origins (scheme://host[:port]) whose pages may call with credentials or "
                                          "change state (JSON list); any origin may read the public tier")
    audit_keep_days: float = Field(default=1830.0, gt=0, description="retention of the audit trail (days)")
    rate_limit: str = Field(default="3000/minute",
                            description="requests per caller (a user, else an address), limits' notation")
    rate_limit_execute: str = Field(default="30/minute", description="process executions per caller")
    jobs_per_day: int = Field(default=500, ge=1, description="process executions (synchronous or jobs) a caller may start in 24 hours "
                                                         "(admins: any number)")
    heavy_slots: int = Field(default=1, ge=1,
                             description="heavy process executions run at once on this host, all its server processes "
                             "together (keep it below the workers so that light requests stay answered); a "
                             "synchronous one finding none free is a 503, a job waits in the queue")
    trusted_proxies: int = Field(default=0, ge=0, le=4,
                                 description="proxies in front whose X-Forwarded-For names the client (onemap serve's "
                                             "nginx: 1)")
    rate_limit_storage: str = Field(default="memory://",
                                    description="where rate limits count: memory:// (per process) or redis://...")

    # ---- basemaps ---------------------------------------------------------------------------------
    basemaps: Path = Field(default=PACKAGE_DIR / "basemaps.yaml", description="the basemap definitions")
    mapproxy_demo: bool = Field(default=False, description="serve MapProxy's demo pages (not in production)")
    tianditu_key: str | None = Field(default=None, validation_alias=AliasChoices("TIANDITU_KEY", "tianditu_key"),
                                     description="Tianditu's service key (TIANDITU_KEY)")
    basemap_keys: dict[str, str] = Field(
        default_factory=dict, description="keys of other upstream services, by the key_env names config/basemaps.yaml "
                                          "gives them (JSON)")

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, v: str | None) -> str | None:
        return v.rstrip("/") if v else v

    @model_validator(mode="after")
    def _limits(self) -> Settings:
        if self.default_items > self.max_items:
            raise ValueError(
                f"ONEMAP_DEFAULT_ITEMS ({self.default_items}) is above ONEMAP_MAX_ITEMS ({self.max_items})"
            )
        from limits import parse_many

        for name in ("rate_limit", "rate_limit_execute"):
            try:
                parse_many(getattr(self, name))
            except ValueError:
                raise ValueError(f"ONEMAP_{name.upper()}: {getattr(self, name)!r} is not a rate such as 600/minute"
                                 ) from None
        if self.oidc_issuer and not self.oidc_audience:
            raise ValueError("ONEMAP_OIDC_ISSUER needs ONEMAP_OIDC_AUDIENCE (tokens for other services are refused)")
        return self

    # ---- sections ---------------------------------------------------------------------------------
    @property
    def store(self) -> StoreSection:
        return StoreSection(self.database_url, self.data_dir, self.count_max_cost, self.count_max_rows,
                            self.pg_parallel_workers)

    @property
    def jobs(self) -> JobSection:
        return JobSection(self.job_time_limit, self.job_lease_seconds, self.job_max_attempts, self.job_workers,
                          self.job_keep_sync_hours, self.job_keep_async_days)

    @property
    def processes(self) -> ProcessSection:
        return ProcessSection(self.max_boundary_vertices, self.max_boundary_km2, self.max_search_km2,
                              self.compliance_rules, self.qc_rules, self.dem_path, self.land_audit_rules)

    @property
    def access(self) -> AccessSection:
        return AccessSection(self.oidc_issuer, self.oidc_audience, self.oidc_jwks_url, self.oidc_role_claim,
                             self.oidc_region_claim, tuple(o.rstrip("/") for o in self.cors_origins),
                             self.audit_keep_days, self.rate_limit, self.rate_limit_execute, self.jobs_per_day,
                             self.heavy_slots, self.rate_limit_storage)

    @property
    def basemap(self) -> BasemapSection:
        keys = dict(self.basemap_keys)
        if self.tianditu_key:
            keys.setdefault("TIANDITU_KEY", self.tianditu_key)
        return BasemapSection(self.basemaps, keys, self.mapproxy_demo)

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

    def store_options(self) -> dict[str, Any]:
        """How the store is tuned (passed to its constructor)."""
        store = self.store
        return {"count_max_cost": store.count_max_cost, "count_max_rows": store.count_max_rows,
                "parallel_workers": store.pg_parallel_workers}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once; tests build their own ``Settings``)."""
    return Settings()
