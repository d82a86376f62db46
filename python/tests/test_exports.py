"""`suanli export` and `suanli run --format` end to end, read by the tools they are for:
Python's csv module (with the columns docs/formats.md documents), promtool check metrics and a
strict parser of the text format, Google Benchmark's compare.py. Needs SUANLI_BINARY (ctest sets
it); promtool (Debian prometheus) and compare.py (Debian libbenchmark-tools) come from
scripts/setup.sh."""

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "reports" / "examples" / "report-cpu-quick.json"
SUANLI = os.environ.get("SUANLI_BINARY", str(REPO / "build" / "suanli"))
COMPARE_PY = os.environ.get("GBENCH_COMPARE_PY", "/usr/share/benchmark/compare.py")


def suanli(*args, check=True):
    p = subprocess.run([SUANLI, *map(str, args)], capture_output=True, text=True, timeout=300)
    if check and p.returncode != 0:
        raise AssertionError(f"suanli {' '.join(map(str, args))}: exit {p.returncode}\n{p.stderr}")
    return p


def documented_csv_columns():
    text = (REPO / "docs" / "formats.md").read_text(encoding="utf-8")
    section = text.split("## CSV", 1)[1].split("### Ratings", 1)[0]
    return re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.M)


# The text exposition format, strictly: HELP and TYPE before a family's samples, each family
# once and contiguous, valid names, quoted and escaped label values, float values, # EOF last.
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(rf"^({NAME})(?:\{{({LABEL}(?:,{LABEL})*)?\}})? (\S+)$")


def parse_exposition(text):
    lines = text.split("\n")
    assert lines[-1] == "" and lines[-2] == "# EOF", "must end with '# EOF' and a newline"
    families, current, series = {}, None, set()
    for n, line in enumerate(lines[:-2], 1):
        m = re.match(rf"^# (HELP|TYPE) ({NAME}) (.+)$", line)
        if m:
            kind, name, rest = m.groups()
            if kind == "HELP":
                assert name not in families, f"line {n}: family {name} appears twice"
                families[name] = {"help": rest, "type": None, "samples": []}
                current = name
            else:
                assert name == current, f"line {n}: TYPE for {name} outside its family"
                assert rest in ("gauge", "counter", "info", "unknown"), f"line {n}: type {rest}"
                families[name]["type"] = rest
            continue
        m = SAMPLE.match(line)
        assert m, f"line {n}: not a sample: {line!r}"
        name, labels, value = m.groups()
        assert name == current and families[name]["type"], f"line {n}: {name} outside its family"
        float(value)
        assert (name, labels) not in series, f"line {n}: duplicate series"
        series.add((name, labels))
        families[name]["samples"].append(dict(re.findall(r'([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"',
                                                         labels or "")))
    return families


class ExportTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="suanli-export-test-")
        cls.example = json.loads(EXAMPLE.read_text(encoding="utf-8"))
        # A fresh run (fp64 only, short samples): the second report for compare.py, and
        # `run --format csv` on stdout.
        cls.fresh = os.path.join(cls.tmp, "fresh.json")
        cls.fresh_run = suanli("run", "--suite", "quick", "--dtype", "fp64", "--min-time", "0.002",
                               "--max-time", "0.05", "--backend", "cpu", "--format", "csv",
                               "-o", cls.fresh)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def test_csv_reads_with_documented_columns(self):
        out = suanli("export", EXAMPLE, "--format", "csv").stdout
        rows = list(csv.DictReader(io.StringIO(out, newline="")))
        columns = documented_csv_columns()
        self.assertGreater(len(columns), 20)
        self.assertEqual(list(rows[0].keys()), columns)
        self.assertEqual(len(rows), len(self.example["results"]))
        for row, res in zip(rows, self.example["results"]):
            self.assertEqual(row["workload"], res["workload"])
            self.assertEqual(row["status"], res["status"])
            if res["status"] == "ok":
                self.assertEqual(float(row["time_median_s"]), res["time_s"]["median"])
                unit = res["throughput_unit"]
                col = "bytes_per_second" if unit == "B/s" else "flops_per_second"
                self.assertEqual(float(row[col]), res[col])
            else:
                self.assertEqual(row["time_median_s"], "")
                self.assertTrue(row["reason"])
        models = [r for r in rows if r["op"] == "model"]
        self.assertTrue(all(r["model"] and r["mode"] and r["batch"] for r in models))

    def test_run_format_csv_is_the_report_as_csv(self):
        rows = list(csv.DictReader(io.StringIO(self.fresh_run.stdout, newline="")))
        with open(self.fresh, encoding="utf-8") as f:
            report = json.load(f)
        self.assertEqual([r["workload"] for r in rows], [r["workload"] for r in report["results"]])
        self.assertIn("report: " + self.fresh, self.fresh_run.stderr)

    def test_openmetrics_passes_promtool_and_strict_parser(self):
        path = os.path.join(self.tmp, "suanli.prom")
        suanli("export", EXAMPLE, "--format", "openmetrics", "-o", path)
        text = Path(path).read_text(encoding="utf-8")
        families = parse_exposition(text)
        results = self.example["results"]
        self.assertEqual(len(families["suanli_result"]["samples"]), len(results))
        for s in families["suanli_result"]["samples"]:
            self.assertEqual(set(s), {"host", "backend", "device", "device_name", "workload", "op",
                                      "dtype", "shape", "status"})
        measured = sum(1 for r in results if r["status"] == "ok" and r["throughput_unit"] != "B/s")
        self.assertEqual(len(families["suanli_ops_per_second"]["samples"]), measured)
        promtool = shutil.which("promtool")
        self.assertIsNotNone(promtool, "promtool missing: scripts/setup.sh installs prometheus")
        with open(path, "rb") as f:
            p = subprocess.run([promtool, "check", "metrics"], stdin=f, capture_output=True,
                               text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(p.stdout.strip() + p.stderr.strip(), "", "promtool lint findings")

    def test_openmetrics_refuses_duplicate_series(self):
        p = suanli("export", EXAMPLE, EXAMPLE, "--format", "openmetrics", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("one report per host", p.stderr)

    def test_gbench_json_runs_through_compare_py(self):
        old = os.path.join(self.tmp, "old.gb.json")
        new = os.path.join(self.tmp, "new.gb.json")
        suanli("export", EXAMPLE, "--format", "gbench-json", "-o", old)
        suanli("export", self.fresh, "--format", "gbench-json", "-o", new)
        doc = json.loads(Path(old).read_text(encoding="utf-8"))
        names = {b["name"] for b in doc["benchmarks"] if b["run_type"] == "iteration"}
        self.assertIn("cpu:0/gemm.fp64.256x256x256", names)
        self.assertTrue(os.path.exists(COMPARE_PY), "compare.py missing: libbenchmark-tools")
        p = subprocess.run([sys.executable, COMPARE_PY, "--no-color", "benchmarks", old, new],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        # compare.py prints one line per benchmark both files have, e.g. the fp64 GEMM
        self.assertRegex(p.stdout, r"cpu:0/gemm\.fp64\.256x256x256\s+[-+]\d+\.\d{4}")
        self.assertRegex(p.stdout, r"cpu:0/stream\.fp64\.triad 2097152_median\s+[-+]\d+\.\d{4}")
        self.assertIn("_pvalue", p.stdout)  # the U test ran on the per-sample entries
        context = doc["context"]
        unsupported = [r for r in self.example["results"] if r["status"] == "unsupported"]
        self.assertEqual(len(context["suanli_not_measured"]), len(unsupported))

    def test_markdown(self):
        out = suanli("export", EXAMPLE, "--format", "md").stdout
        self.assertEqual(out.count("\n| cpu:0 |"), len(self.example["results"]))
        self.assertIn("| device | workload | dtype |", out)

    def test_bad_input_exit_2_naming_the_file(self):
        bad = os.path.join(self.tmp, "bad.json")
        Path(bad).write_text('{"results": [}', encoding="utf-8")
        p = suanli("export", bad, "--format", "csv", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn(bad, p.stderr)


class CommandLineTest(unittest.TestCase):
    def test_unknown_command_is_named(self):
        p = suanli("bogus", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("unknown command 'bogus'", p.stderr)

    def test_help_fits_the_width_with_examples_and_environment(self):
        env = dict(os.environ, COLUMNS="80")
        p = subprocess.run([SUANLI, "run", "--help"], capture_output=True, text=True, env=env,
                           timeout=60)
        self.assertEqual(p.returncode, 0)
        self.assertLessEqual(max(len(l) for l in p.stdout.splitlines()), 80, p.stdout)
        for word in ("Examples:", "ENVIRONMENT:", "OPENBLAS_CORETYPE", "SUANLI_CPU_MAX_ISA",
                     "SUANLI_BACKEND_PATH", "OMP_"):
            self.assertIn(word, p.stdout)


if __name__ == "__main__":
    unittest.main()
