"""The kernel benchmark runs end to end (tiny shapes, interpret mode), and
what the GPU host imports needs neither tensorflow-datasets nor grain."""

import json
import subprocess
import sys

from eval import main
from eval.bench import kernels


def test_kernel_benchmark_smoke():
  results = kernels.run(kernels.SMOKE, "interpret")
  assert results["checks"] and all(c["ok"] for c in results["checks"].values())
  impls = {t["impl"].split(":")[0] for t in results["timings"]}
  assert {"ours", "xla", "floor"} <= impls
  assert all(t["ms"] for t in results["timings"] if t["impl"] != "floor")


def test_gpu_host_modules_import_without_data_stack():
  code = (
      "import sys\n"
      "import ops, zoo, pallas_kernels.vq, pallas_kernels.maxsim\n"
      "import eval.bench.kernels, eval.main\n"
      "bad = {'grain', 'tensorflow_datasets', 'array_record'} & set("
      "m.split('.')[0] for m in sys.modules)\n"
      "assert not bad, bad\n")
  subprocess.run([sys.executable, "-c", code], check=True)


def test_scan_bench_smoke_checks_every_implementation(tmp_path):
  out = tmp_path / "scan.json"
  assert main.main(["bench", "scan", "--smoke", "--json", str(out)]) == 0
  results = json.loads(out.read_text())
  assert all(c["ok"] for c in results["checks"].values())
  names = {t["impl"] for t in results["timings"]}
  assert "forward+backward / sequential" in names
  assert all(t["ms"] > 0 for t in results["timings"])
