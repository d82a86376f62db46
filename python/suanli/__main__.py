"""python3 -m suanli validate FILE... | summary FILE | plot OLD NEW -o PNG"""

import argparse
import sys

from . import Certificate, ClusterReport, InvalidDocument, Rating, Report, load, plot_comparison


def summary(doc) -> str:
    if isinstance(doc, Report):
        lines = [f"report {doc.origin}: host {doc.hostname}, suite {doc.suite}, {doc.tally}"]
        lines += [f"  {r.backend}:{r.device} {r.label:<50} {r.status:<11} "
                  f"{r.throughput or '-'} {r.throughput_unit if r.throughput else ''}"
                  for r in doc.results]
        return "\n".join(lines)
    if isinstance(doc, ClusterReport):
        return "\n".join([f"cluster report {doc.origin}: {len(doc.nodes)} ranks"] +
                         [f"  rank {n.rank} {n.host} {n.status}: {len(n.results)} results"
                          for n in doc.nodes])
    if isinstance(doc, Rating):
        return "\n".join([f"rating {doc.origin}: {len(doc.devices)} devices"] +
                         [f"  {d.backend}:{d.index} {d.name} {p.precision} Rmax {p.rmax} "
                          f"Rpeak {p.rpeak} ({p.rpeak_basis})"
                          for d in doc.devices for p in d.precisions])
    assert isinstance(doc, Certificate)
    return (f"certificate {doc.origin}: {doc.verdict}, {doc.counts}\n" +
            "\n".join(f"  FAIL {c.backend}:{c.device} {c.workload} {c.criterion}: {c.detail}"
                      for c in doc.failures))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m suanli", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("validate", help="check files against reports/schema")
    v.add_argument("files", nargs="+")
    s = sub.add_parser("summary", help="print a document's contents")
    s.add_argument("file")
    pl = sub.add_parser("plot", help="new/old throughput per workload as a PNG (matplotlib)")
    pl.add_argument("old")
    pl.add_argument("new")
    pl.add_argument("-o", "--out", required=True)
    a = p.parse_args(argv)
    try:
        if a.cmd == "validate":
            for f in a.files:
                doc = load(f)
                print(f"{f}: valid {type(doc).__name__}")
        elif a.cmd == "summary":
            print(summary(load(a.file)))
        else:
            n = plot_comparison(load(a.old), load(a.new), a.out)
            print(f"{a.out}: {n} workloads")
    except (InvalidDocument, OSError, ValueError) as e:
        print(f"suanli: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
