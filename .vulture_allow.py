# Names vulture cannot see being used: frameworks and libraries read them by name, or an interface
# requires them. Each group says who uses it. (Read by vulture only, never imported.)
# ruff: noqa: B018, F821

# pydantic: model settings, validators registered by their decorators, and fields that must be
# declared because the models forbid unknown keys (config/catalogue.yaml, config/qc/qc_rules.csv)
_.model_config
_._unique
_._overview_fields
_._reserved
_._one
_._roles
_._formula
_._known  # WarningRules' validator (config/warnings.py)
_._one_test  # MonitoringRule's validator (config/monitoring.py)
_._strip_slash
_.confidence  # also the code tables' provenance per table and row (config/codes.py), kept with `source`
_.implementation_hint

# psycopg2: connection attribute set to leave transaction control to the statements
_.autocommit

# Flask: hooks and handlers registered by decorators (server/http.py), a URL map setting (server/app.py),
# the request-scoped value on flask.g read back by name (g.pop("store_scope"))
_._request_id
_._end_scope
_._finish
_._onemap_error
_._not_found
_._not_allowed
_._unexpected
_.store_scope
_.strict_slashes
exc  # teardown_request passes the request's exception

# pygeoapi: the feature provider and its attributes, the process manager with the interface pygeoapi
# calls (config/pygeoapi_config.py names them), processor and exception attributes pygeoapi reads,
# and processors loaded by their dotted paths (processes/__init__.py)
OneMapFeatureProvider
IndicatorCollectionProvider  # named by the indicators resource (providers/indicator_provider.py)
WarningCollectionProvider  # named by the warnings resource (providers/warning_provider.py)
FindingCollectionProvider  # named by the monitoring resource (providers/warning_provider.py)
_.id_field
_.title_field
OneMapManager
_.is_async
_.supports_subscribing
_.execute_process
_.get_jobs
_.get_job_result
_.delete_job
_.add_job
_.update_job
subscriber  # BaseManager.execute_process's parameter, unused: OneMap does not notify subscribers
job_metadata  # BaseManager.add_job's parameter (OneMap's runner creates its jobs)
update_dict  # BaseManager.update_job's parameter (OneMap's runner updates its jobs)
_.supports_outputs
_.http_status_code
_.ogc_exception_code
PlanQcProcessor
TransmissionCheckProcessor
StatisticsProcessor
LandUseSummaryProcessor
StatusEvaluationProcessor
ImplementationEvaluationProcessor
WarningScanProcessor
ChangeDetectionProcessor
CityHealthCheckProcessor
CompareProcessor
LandAuditProcessor

# openpyxl: a worksheet's frozen header row is set as an attribute (processes/evaluation.py)
_.freeze_panes

# MapProxy: the source plugin (server/mapproxy_plugin.py): entry point, configuration class attributes
# and the MapLayer interface; the seeder's progress-logger interface (server/basemaps.py)
plugin_entrypoint
_.source_type
_.supports_meta_tiles
_.defaults
_.is_opaque
_.get_map
_.fwd_req_params  # the WMS parameters MapProxy forwards to a source (query.dimensions)
_.get_info  # the InfoSource interface (GetFeatureInfo)
_.fi_source  # a source configuration's feature info and legend sources
_.lg_source
_.progress_store
_.current_task_id
_.log_message
_.log_step
_.log_progress

# rasterio: writing the colour interpretation of the basemap's bands (providers/basemap_render.py)
_.colorinterp

# atexit: closes the plugin's raster handles (registered by its decorator)
_close_all

# the job store's column, filled from its row (providers/store/jobs.py, JOB_COLUMNS)
_.lease_until

# lru_cache key: a changed default configuration file is read again (processes/qc/config.py, _load)
default_mtime

# signal handler parameters (server/cli.py, cmd_worker)
signum
frame

# flask.g: the call a request's audit record is written for (server/access.py, read in Access.after)
_.onemap_call

# read by MapProxy (its WMS request's exception_handler): the XML report where no picture can be drawn
# (server/basemaps.py, _kvp_refusal)
_.prevent_image_exception

# openpyxl: cell and sheet properties written by assignment, read when the workbook is saved
# (processes/statistics.py, processes/land_use_summary.py)
_.number_format
_.freeze_panes
_.alignment
_.border
