"""Plan quality check (成果质检) of packages and drawer entries against config/qc.yaml.

One module per rule group: completeness (C01-C03), mathematics (M01-M02), topology (T01-T07),
attributes (A01-A06), areas (S01, S03); reader.py reads tolerantly and in chunks, engine.py
runs the two passes, report.py writes JSON, HTML and a GeoPackage of the findings.
"""

from .config import QcConfig, load_qc_config
from .engine import QcResult, check_package, check_plan
from .findings import Finding

__all__ = ["Finding", "QcConfig", "QcResult", "check_package", "check_plan", "load_qc_config"]
