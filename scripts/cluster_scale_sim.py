#!/usr/bin/env python3
"""What rank 0 holds at N ranks: builds a cluster report of N nodes from the node entries of a
real one (ranks renumbered), writes it, and measures what reading it costs suanli
(`suanli diagnose`: parse and schema validation of the whole document, as rank 0 holds it before
writing; it stops at the hash check, which the copies fail on purpose).

  scripts/cluster_scale_sim.py CLUSTER.json N SUANLI_BINARY
Prints: per-node entry size, report size at N, max RSS and wall time of suanli reading it.
"""
import json, os, resource, subprocess, sys, tempfile, time

src, n, suanli = sys.argv[1], int(sys.argv[2]), sys.argv[3]
doc = json.load(open(src))
nodes = doc["nodes"]
sizes = [len(json.dumps(x, separators=(",", ":"))) for x in nodes]
per_node = sum(sizes) / len(sizes)
big = dict(doc)
big["nodes"] = []
for r in range(n):
    e = dict(nodes[r % len(nodes)])
    e["rank"] = r
    big["nodes"].append(e)
big["mpi"] = dict(doc["mpi"], ranks=n)
with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "big.json")
    t0 = time.time()
    with open(path, "w") as f:
        json.dump(big, f, indent=2)
    size = os.path.getsize(path)
    t0 = time.time()
    p = subprocess.run(["/usr/bin/time", "-f", "%M %e", suanli, "diagnose", path],
                       capture_output=True, text=True)
    rss_kb, wall = p.stderr.strip().splitlines()[-1].split()
print(f"source: {src} ({len(nodes)} nodes, {len(nodes[0].get('results', []))} results per node)")
print(f"node entry (compact JSON, as sent to rank 0): {per_node/1e3:.1f} kB")
print(f"cluster report at {n} ranks (indented, as written): {size/1e6:.1f} MB")
print(f"gather volume at rank 0: {n*per_node/1e6:.1f} MB")
print(f"suanli reading it (parse + schema): max RSS {int(rss_kb)/1e3:.0f} MB, wall {wall} s")
