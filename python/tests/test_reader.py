"""python/suanli: loading, typed objects, schema validation, plotting (python3 -m unittest)."""

import copy
import json
import os
import tempfile
import unittest
from pathlib import Path

import suanli
from suanli.schema import MinimalValidator, load_schema

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "reports" / "examples"
DATA = Path(__file__).resolve().parent / "data"


def example_report():
    with open(EXAMPLES / "report-cpu-quick.json", encoding="utf-8") as f:
        return json.load(f)


class ReportTest(unittest.TestCase):
    def test_loads_typed_results(self):
        r = suanli.load(EXAMPLES / "report-cpu-quick.json")
        self.assertIsInstance(r, suanli.Report)
        raw = example_report()
        self.assertEqual(len(r.results), len(raw["results"]))
        self.assertEqual(r.hostname, raw["host"]["hostname"])
        self.assertEqual(r.tally["results"], len(r.results))
        first = r.results[0]
        self.assertEqual(first.key, (raw["results"][0]["backend"], raw["results"][0]["device"],
                                     raw["results"][0]["workload"]))
        self.assertAlmostEqual(first.time_median_s, raw["results"][0]["time_s"]["median"])
        self.assertIs(first.verified, True)
        unsupported = [x for x in r.results if x.status == "unsupported"]
        self.assertTrue(unsupported)
        self.assertIsNone(unsupported[0].throughput)
        self.assertTrue(unsupported[0].reason)
        stream = [x for x in r.results if x.op == "stream"][0]
        self.assertEqual(stream.throughput_unit, "B/s")
        self.assertEqual(stream.throughput, stream.bytes_per_second)

    def test_model_results_are_labelled_by_model_mode_batch_dtype(self):
        r = suanli.load(EXAMPLES / "report-cpu-quick.json")
        training = [x for x in r.results if x.model and x.model.get("mode") == "training"][0]
        self.assertEqual(training.label, "resnet_tiny training batch 16 fp32")
        inference = [x for x in r.results if x.model and x.model.get("mode") != "training"][0]
        self.assertIn(" inference batch ", inference.label)

    def test_rejects_invalid_report_naming_the_place(self):
        doc = example_report()
        doc["results"][3]["status"] = "fine"
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(doc, f)
        try:
            with self.assertRaises(suanli.InvalidDocument) as cm:
                suanli.load(f.name)
            self.assertIn(f.name, str(cm.exception))
            self.assertIn("/results/3/status", str(cm.exception))
        finally:
            os.unlink(f.name)

    def test_json_syntax_error_names_line_and_column(self):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            f.write('{"results": [\n  1,,\n]}')
        try:
            with self.assertRaisesRegex(suanli.InvalidDocument, r"line 2, column 5"):
                suanli.load(f.name)
        finally:
            os.unlink(f.name)


class ValidatorTest(unittest.TestCase):
    def test_examples_valid_under_minimal_validator(self):
        for name, schema in [("report-cpu-quick.json", "report.schema.json"),
                             ("rating-cpu-cluster.json", "rating.schema.json"),
                             ("claims-h100-sxm.json", "claims.schema.json"),
                             ("inventory-cpu-cluster.json", "inventory.schema.json")]:
            with open(EXAMPLES / name, encoding="utf-8") as f:
                doc = json.load(f)
            self.assertEqual(suanli.validate(doc, schema, minimal=True), [], name)

    def test_minimal_validator_finds_each_kind_of_error(self):
        doc = example_report()
        bad = copy.deepcopy(doc)
        del bad["host"]                               # required
        bad["results"][0]["time_s"]["median"] = "1"   # type
        bad["results"][1]["status"] = "great"         # enum
        bad["bogus_member"] = 1                        # additionalProperties, if the schema closes
        errors = suanli.validate(bad, "report.schema.json", minimal=True)
        text = "\n".join(map(str, errors))
        self.assertIn("missing required member 'host'", text)
        self.assertIn("/results/0/time_s/median", text)
        self.assertIn("/results/1/status", text)

    def test_combinators_and_refs(self):
        schema = {"definitions": {"pos": {"type": "integer", "minimum": 1}},
                  "type": "object",
                  "properties": {"n": {"$ref": "#/definitions/pos"},
                                 "v": {"oneOf": [{"type": "null"}, {"type": "string",
                                                                     "pattern": "^a"}]},
                                 "w": {"not": {"const": 3}}},
                  "if": {"properties": {"n": {"const": 2}}},
                  "then": {"required": ["v"]},
                  "additionalProperties": False}
        v = MinimalValidator(schema)
        self.assertEqual(list(v.errors({"n": 1, "v": None, "w": 4}, schema)), [])
        paths = [e.path for e in v.errors({"n": 0, "v": "b", "w": 3, "x": 1}, schema)]
        self.assertEqual(sorted(paths), ["/n", "/v", "/w", "/x"])
        self.assertEqual([e.message for e in v.errors({"n": 2}, schema)],
                         ["missing required member 'v'"])

    def test_unknown_keyword_is_not_ignored(self):
        with self.assertRaises(NotImplementedError):
            list(MinimalValidator({}).errors(1, {"multipleOf": 2}))

    def test_every_shipped_schema_uses_only_supported_keywords(self):
        for p in sorted((REPO / "reports" / "schema").glob("*.schema.json")):
            schema = load_schema(p.name)
            # walking an empty object through the schema visits its top-level keywords
            list(MinimalValidator(schema).errors({}, schema))


class ClusterTest(unittest.TestCase):
    def cluster_doc(self):
        rep = example_report()
        nodes = []
        for rank, host in enumerate(["n1", "n2"]):
            node = copy.deepcopy(rep)
            node["rank"] = rank
            node["host"]["hostname"] = host
            node["status"] = "ok"
            nodes.append(node)
        return {"suanli_cluster": "1.0", "suanli": rep["suanli"],
                "started_utc": rep["started_utc"], "suite": rep["suite"],
                "mpi": {"library": "Open MPI", "launcher": "mpirun", "ranks": 2,
                        "hosts": [{"host": "n1", "ranks": 1}, {"host": "n2", "ranks": 1}]},
                "test_hooks": {}, "nodes": nodes, "aggregates": [],
                "fabric": {"results": []},
                "tally": {"nodes": 2, "ok": 2, "failed": 0, "error": 0, "lost": 0},
                "sha256": "0" * 64}

    def test_nodes_with_rank_host_results(self):
        c = suanli.from_json(self.cluster_doc(), "cluster.json", validate=False)
        self.assertIsInstance(c, suanli.ClusterReport)
        self.assertEqual([(n.rank, n.host) for n in c.nodes], [(0, "n1"), (1, "n2")])
        self.assertEqual(len(c.nodes[1].results), len(example_report()["results"]))
        self.assertIsInstance(c.nodes[0].results[0], suanli.Result)

    def test_validates_against_cluster_schema(self):
        try:
            load_schema("cluster.schema.json")
        except FileNotFoundError:
            self.skipTest("reports/schema/cluster.schema.json not in this tree (cluster reports "
                          "come with the MPI runner)")
        doc = self.cluster_doc()
        self.assertEqual(suanli.validate(doc, "cluster.schema.json", minimal=True), [])
        del doc["nodes"][0]["rank"]
        self.assertTrue(suanli.validate(doc, "cluster.schema.json", minimal=True))


class RatingAndCertificateTest(unittest.TestCase):
    def test_rating(self):
        r = suanli.load(EXAMPLES / "rating-cpu-cluster.json")
        self.assertIsInstance(r, suanli.Rating)
        fp64 = [p for d in r.devices for p in d.precisions if p.precision == "fp64"][0]
        self.assertGreater(fp64.rmax, 0)
        self.assertLessEqual(fp64.rmax, fp64.rpeak)
        self.assertIn(fp64.rpeak_basis, ("spec", "formula", "measured"))

    def test_certificate(self):
        c = suanli.load(DATA / "certificate-cpu-quick.json")
        self.assertIsInstance(c, suanli.Certificate)
        self.assertEqual(c.counts["criteria"], len(c.criteria))
        self.assertEqual(c.counts["fail"], len(c.failures))
        self.assertEqual(c.counts["pass"], sum(1 for x in c.criteria if x.verdict == "PASS"))
        self.assertIn(c.verdict, ("PASS", "FAIL"))


class PlotTest(unittest.TestCase):
    def test_png_of_one_report_against_another(self):
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            self.skipTest("matplotlib is not installed (Debian: python3-matplotlib)")
        old = suanli.load(EXAMPLES / "report-cpu-quick.json")
        raw = example_report()
        for r in raw["results"]:  # the "new" run: every throughput 20 % higher
            for k in ("flops_per_second", "bytes_per_second"):
                if k in r:
                    r[k] *= 1.2
        new = suanli.from_json(raw, "faster.json")
        pairs = suanli.matched(old, new)
        self.assertEqual(len(pairs), sum(1 for r in old.results if r.throughput))
        for o, n in pairs:
            self.assertAlmostEqual(n.throughput / o.throughput, 1.2)
        with tempfile.TemporaryDirectory() as d:
            png = os.path.join(d, "compare.png")
            self.assertEqual(suanli.plot_comparison(old, new, png), len(pairs))
            with open(png, "rb") as f:
                data = f.read()
            self.assertEqual(data[:8], b"\x89PNG\r\n\x1a\n")
            self.assertGreater(len(data), 10000)
            if os.environ.get("SUANLI_KEEP_PNG"):
                Path(os.environ["SUANLI_KEEP_PNG"]).write_bytes(data)


if __name__ == "__main__":
    unittest.main()
