"""Typed views of suanli's JSON documents: reports, ratings, cluster reports, certificates.

Every object keeps the parsed JSON in `raw`, so a member this module does not name is still
reachable. Loading checks the document's marker and, with `validate=True` (the default), its
schema (reports/schema); a document that fails raises `InvalidDocument` naming the file and the
first errors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

from .schema import SchemaError, schema_for, validate as validate_doc


class InvalidDocument(ValueError):
    """A file that is not a valid suanli document; the message names the file and the place."""

    def __init__(self, origin: str, errors: List[SchemaError]):
        self.origin = origin
        self.errors = errors
        shown = "; ".join(str(e) for e in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        super().__init__(f"{origin}: {shown}{more}")


@dataclass
class Result:
    """One workload on one device (a member of a report's `results`)."""
    workload: str
    name: str
    op: str
    backend: str
    device: int
    dtype: str
    status: str                      # ok, unsupported, skipped, failed, error
    shape: str                       # shape_text: "4096x4096x4096", "batch 8"
    time_median_s: Optional[float]   # None unless measured (ok or failed)
    time_cv: Optional[float]
    flops_per_second: Optional[float]
    bytes_per_second: Optional[float]
    throughput_unit: str             # FLOP/s, OP/s (int8) or B/s
    peak_fraction: Optional[float]
    verified: Optional[bool]         # None: no verification ran
    library: str
    reason: str
    model: Optional[Dict[str, Any]]  # model workloads: model, mode, batch, samples_per_second...
    raw: Dict[str, Any] = field(repr=False)

    @property
    def key(self) -> Tuple[str, int, str]:
        """What `suanli compare` matches results by: backend, device, workload id."""
        return (self.backend, self.device, self.workload)

    @property
    def throughput(self) -> Optional[float]:
        """FLOP/s (OP/s) for compute workloads, B/s for memory-bound ones; None if unmeasured."""
        return self.bytes_per_second if self.throughput_unit == "B/s" else self.flops_per_second

    @property
    def label(self) -> str:
        if self.model:
            return (f"{self.model.get('model', self.name)} {self.model.get('mode', 'inference')} "
                    f"batch {self.model.get('batch', '?')} {self.dtype}")
        return f"{self.name} {self.dtype} {self.shape}"

    @classmethod
    def from_json(cls, r: Dict[str, Any]) -> "Result":
        measured = r.get("status") in ("ok", "failed") and "time_s" in r
        t = r.get("time_s", {}) if measured else {}
        unit = r.get("throughput_unit", "FLOP/s")
        ver = r.get("verification")
        return cls(
            workload=r["workload"], name=r.get("name", r["op"]), op=r["op"],
            backend=r["backend"], device=int(r["device"]), dtype=r.get("dtype", ""),
            status=r["status"], shape=r.get("shape_text", ""),
            time_median_s=t.get("median"), time_cv=t.get("cv"),
            flops_per_second=r.get("flops_per_second") if measured and unit != "B/s" else None,
            bytes_per_second=r.get("bytes_per_second") if measured and unit == "B/s" else None,
            throughput_unit=unit, peak_fraction=r.get("peak_fraction") if measured else None,
            verified=ver.get("passed") if isinstance(ver, dict) else None,
            library=r.get("library", ""), reason=r.get("reason", ""),
            model=r.get("model") if isinstance(r.get("model"), dict) else None, raw=r)


@dataclass
class Report:
    """A single-node report from `suanli run` (reports/schema/report.schema.json)."""
    origin: str
    hostname: str
    suite: str
    started_utc: str
    finished_utc: str
    schema_version: str
    sha256: str
    tally: Dict[str, int]
    results: List[Result]
    raw: Dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, doc: Dict[str, Any], origin: str = "-") -> "Report":
        return cls(origin=origin, hostname=doc["host"].get("hostname", ""),
                   suite=doc.get("suite", {}).get("name", ""),
                   started_utc=doc.get("started_utc", ""),
                   finished_utc=doc.get("finished_utc", ""),
                   schema_version=str(doc.get("schema_version", "")),
                   sha256=doc.get("sha256", ""), tally=dict(doc.get("tally", {})),
                   results=[Result.from_json(r) for r in doc["results"]], raw=doc)

    def by_key(self) -> Dict[Tuple[str, int, str], Result]:
        return {r.key: r for r in self.results}

    def to_dataframe(self):
        """The results as a pandas DataFrame (pandas is optional: ImportError without it)."""
        import pandas as pd  # type: ignore
        rows = [{k: v for k, v in vars(r).items() if k not in ("raw", "model")}
                for r in self.results]
        return pd.DataFrame(rows)


@dataclass
class ClusterNode:
    rank: int
    host: str
    status: str           # ok, failed, error, lost
    results: List[Result]
    raw: Dict[str, Any] = field(repr=False)


@dataclass
class ClusterReport:
    """An MPI run's report (reports/schema/cluster.schema.json): one entry per rank."""
    origin: str
    suite: str
    nodes: List[ClusterNode]
    tally: Dict[str, Any]
    raw: Dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, doc: Dict[str, Any], origin: str = "-") -> "ClusterReport":
        nodes = []
        for n in doc["nodes"]:
            host = n.get("host", "")
            hostname = host.get("hostname", "") if isinstance(host, dict) else str(host)
            nodes.append(ClusterNode(rank=int(n["rank"]), host=hostname, status=n["status"],
                                     results=[Result.from_json(r) for r in n.get("results", [])],
                                     raw=n))
        suite = doc.get("suite", {})
        return cls(origin=origin, suite=suite.get("name", "") if isinstance(suite, dict) else "",
                   nodes=nodes, tally=dict(doc.get("tally", {})), raw=doc)


@dataclass
class RatedPrecision:
    precision: str
    unit: str                # FLOP/s or OP/s
    rpeak: Optional[float]
    rpeak_basis: str         # spec, formula, measured
    rmax: Optional[float]
    peak_kernel: Optional[float]
    efficiency: Optional[float]


@dataclass
class RatedDevice:
    node_type: str
    backend: str
    index: int
    name: str
    kind: str
    category: str
    memory_bandwidth: Optional[float]
    precisions: List[RatedPrecision]


def _figure(f: Any) -> Optional[float]:
    return f.get("value") if isinstance(f, dict) else None


@dataclass
class Rating:
    """`suanli rate --format json` (reports/schema/rating.schema.json)."""
    origin: str
    inputs: List[Any]
    devices: List[RatedDevice]
    categories: List[Dict[str, Any]]
    notes: List[str]
    raw: Dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, doc: Dict[str, Any], origin: str = "-") -> "Rating":
        devices = []
        for d in doc["devices"]:
            precs = [RatedPrecision(
                precision=p["precision"], unit=p.get("unit", ""), rpeak=_figure(p.get("rpeak")),
                rpeak_basis=(p.get("rpeak") or {}).get("basis", ""),
                rmax=_figure(p.get("rmax")), peak_kernel=_figure(p.get("peak_kernel")),
                efficiency=p.get("efficiency")) for p in d.get("precisions", [])]
            devices.append(RatedDevice(
                node_type=d.get("node_type", ""), backend=d["backend"], index=int(d["index"]),
                name=d.get("name", ""), kind=d.get("kind", ""), category=d.get("category", ""),
                memory_bandwidth=_figure(d.get("memory_bandwidth")), precisions=precs))
        return cls(origin=origin, inputs=list(doc.get("inputs", [])), devices=devices,
                   categories=list(doc.get("categories", [])), notes=list(doc.get("notes", [])),
                   raw=doc)


@dataclass
class Criterion:
    backend: str
    device: int
    workload: str
    criterion: str
    measured: Any
    comparison: str
    limit: Any
    verdict: str   # PASS, FAIL, NOT_EVALUATED
    detail: str


@dataclass
class Certificate:
    """A signed certificate from `suanli certify` (reports/schema/certificate.schema.json).
    Loading does not check the signature: `suanli verify` does."""
    origin: str
    certificate_id: str
    verdict: str
    official: bool
    issued_utc: str
    profile: str
    counts: Dict[str, int]   # criteria, pass, fail, not_evaluated
    criteria: List[Criterion]
    raw: Dict[str, Any] = field(repr=False)

    @property
    def failures(self) -> List[Criterion]:
        return [c for c in self.criteria if c.verdict == "FAIL"]

    @classmethod
    def from_json(cls, doc: Dict[str, Any], origin: str = "-") -> "Certificate":
        crit = [Criterion(backend=c["backend"], device=int(c["device"]), workload=c["workload"],
                          criterion=c["criterion"], measured=c.get("measured"),
                          comparison=c.get("comparison", ""), limit=c.get("limit"),
                          verdict=c["verdict"], detail=c.get("detail", ""))
                for c in doc["criteria"]]
        return cls(origin=origin, certificate_id=doc["certificate_id"], verdict=doc["verdict"],
                   official=bool(doc["official"]), issued_utc=doc.get("issued_utc", ""),
                   profile=doc.get("profile", {}).get("name", ""),
                   counts=dict(doc.get("summary", {})), criteria=crit, raw=doc)


Document = Union[Report, ClusterReport, Rating, Certificate]
_KINDS = {"report.schema.json": Report, "cluster.schema.json": ClusterReport,
          "rating.schema.json": Rating, "certificate.schema.json": Certificate}


def from_json(doc: Any, origin: str = "-", validate: bool = True) -> Document:
    """The typed object for a parsed suanli document (kind from its marker members)."""
    name = schema_for(doc)
    if name is None:
        raise InvalidDocument(origin, [SchemaError("", "not a suanli report, cluster report, "
                                                       "rating or certificate")])
    if validate:
        errors = validate_doc(doc, name)
        if errors:
            raise InvalidDocument(origin, errors)
    return _KINDS[name].from_json(doc, origin)


def load(path: Union[str, Path], validate: bool = True) -> Document:
    """Reads a suanli JSON file into its typed object; InvalidDocument names what is wrong."""
    origin = str(path)
    with open(path, encoding="utf-8") as f:
        try:
            doc = json.load(f)
        except json.JSONDecodeError as e:
            raise InvalidDocument(origin, [SchemaError("", f"line {e.lineno}, column {e.colno}: "
                                                           f"{e.msg}")]) from None
    return from_json(doc, origin, validate)
