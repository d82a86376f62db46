"""Read suanli's JSON documents from Python (standard library only; pandas, matplotlib and
jsonschema are used when installed).

    import suanli
    r = suanli.load("suanli-reports/host-20261128T231822Z.json")   # -> suanli.Report
    for res in r.results:
        print(res.label, res.status, res.throughput, res.throughput_unit)
    suanli.plot_comparison(suanli.load("old.json"), r, "compare.png")

`load` returns a Report, ClusterReport, Rating or Certificate after checking the document
against its schema in reports/schema (InvalidDocument otherwise). Command line:
`python3 -m suanli validate FILE...`, `python3 -m suanli summary FILE`,
`python3 -m suanli plot OLD NEW -o out.png`.
"""

from .model import (Certificate, ClusterNode, ClusterReport, Criterion, Document,
                    InvalidDocument, RatedDevice, RatedPrecision, Rating, Report, Result,
                    from_json, load)
from .plot import matched, plot_comparison
from .schema import MinimalValidator, SchemaError, load_schema, schema_for, validate

__all__ = ["Certificate", "ClusterNode", "ClusterReport", "Criterion", "Document",
           "InvalidDocument", "RatedDevice", "RatedPrecision", "Rating", "Report", "Result",
           "from_json", "load", "matched", "plot_comparison", "MinimalValidator", "SchemaError",
           "load_schema", "schema_for", "validate"]
