"""The decoding-kernel benchmark runs end to end (tiny shapes, interpret
mode), and what the GPU host imports needs neither tensorflow-datasets nor
grain, nor loads a Pallas backend module."""

import json
import subprocess
import sys

from eval.bench import baselines, decoding_kernels


def test_decoding_benchmark_smoke():
  results = decoding_kernels.run(decoding_kernels.SMOKE, "interpret")
  checks = results["checks"]
  assert len(checks) == 2 and all(c["ok"] for c in checks.values())
  timed = {t["impl"].split(":")[0] for t in results["timings"] if t["ms"]}
  assert {"ours", "xla", "jax.nn", "floor"} <= timed
  if baselines.torch_version() is not None:
    assert "torch" in timed
  assert all(t["gbps"] for t in results["timings"] if t["ms"])


def test_gpu_tilings_to_compare():
  sets = [decoding_kernels.attention_inputs(0, *decoding_kernels.SMOKE
                                            .attention)]
  attention = decoding_kernels._attention_tiles(decoding_kernels.Shapes(),
                                                sets)
  assert len(attention) == 11  # 4 splits x 3 key blocks, less the default
  vocab = decoding_kernels._vocab_tiles(128000, 8, [])
  assert len(vocab) == 8


def test_main_writes_json_and_fails_on_a_wrong_kernel(tmp_path, monkeypatch):
  fake = {"info": {}, "timings": [],
          "checks": {"a": {"ok": True}, "b": {"ok": False}}}
  monkeypatch.setattr(decoding_kernels, "run", lambda *args: fake)
  out = tmp_path / "bench.json"
  assert decoding_kernels.main(["--smoke", "--json", str(out)]) == 1
  assert json.loads(out.read_text()) == fake
  fake["checks"]["b"]["ok"] = True
  assert decoding_kernels.main(["--only", "vocab"]) == 0


def test_gpu_host_imports_neither_data_stack_nor_pallas_backends():
  """Pallas backend modules load only when a kernel is built."""
  code = (
      "import sys\n"
      "import ops.attention, ops.vocab, eval.bench.decoding_kernels\n"
      "import pallas_kernels.prefix_attention, pallas_kernels.vocab_reduce\n"
      "bad = {'grain', 'tensorflow_datasets', 'array_record'} & set("
      "m.split('.')[0] for m in sys.modules)\n"
      "assert not bad, bad\n"
      "backends = [m for m in sys.modules\n"
      "            if m.startswith('jax.experimental.pallas.')]\n"
      "assert not backends, backends\n")
  subprocess.run([sys.executable, "-c", code], check=True)
