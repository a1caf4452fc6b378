"""A new paper is three files: README's "Adding a system", done for real.

In a copy of the tree, one throwaway system per family is added the way the
README says (a module under zoo/<family>/, a config, a claim check) and
nothing else is edited; the commands then find each one.
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

ROOT = pathlib.Path(__file__).resolve().parents[1]
FAMILIES = ("vq", "retrieval", "decoding", "interp", "arch")

# The files each family's throwaway paper adds, as the README says.
FILES = {
    # vq: a codebook kind, whose module also holds the record.
    "zoo/vq/codebooks/toy_codes.py": '''
        """A throwaway codebook kind: learned codes, read at twice the scale."""

        import dataclasses

        from zoo import registry
        from zoo.vq import autoencoder
        from zoo.vq.codebooks.learned import LearnedCodebook
        from zoo.vq.quantizer import QuantizerConfig


        @dataclasses.dataclass(frozen=True)
        class ToyCodebook(LearnedCodebook):
          kind = "toy_codes"

          def codes(self, quantizer, num_codes, dim, z_flat):
            return 2.0 * super().codes(quantizer, num_codes, dim, z_flat)


        SYSTEM = registry.System(
            name="toy_vq", family="vq", paper="Toy vq",
            default_config=lambda: autoencoder.VQAutoencoderConfig(
                quantizer=QuantizerConfig(codebook=ToyCodebook())),
            builder=autoencoder.build,
            configs=("train.configs.toy_vq:get_config",),
            task="train.tasks.vq_autoencoder:TASK",
            evaluators=("train.evaluators.vq_reconstruction:evaluate",),
            claim="eval.claims.toy_vq:check",
            datasets=("train.data.builders.digits:Digits",))
        ''',
    "train/configs/toy_vq.py": '''
        from train.configs._vq_digits import digits_config


        def get_config(arg=""):
          return digits_config("toy_vq", "toy_codes", arg)
        ''',
    # retrieval: a record with a ranker.
    "zoo/retrieval/toy_retrieval.py": '''
        from zoo import registry
        from zoo.retrieval import rankers

        SYSTEM = registry.System(
            name="toy_retrieval", family="retrieval", paper="Toy retrieval",
            claim="eval.claims.toy_retrieval:check",
            ranker="zoo.retrieval.toy_retrieval:ranker_for",
            datasets=("train.data.builders.limit_small:LimitSmall",))


        def ranker_for(dataset, workdir):
          return rankers.bm25_ranker("whitespace_lower")
        ''',
    # decoding: a thin wrapper over an ops.decoding strategy.
    "zoo/decoding/toy_decoding.py": '''
        from ops.decoding import sampling
        from zoo import registry

        SYSTEM = registry.System(
            name="toy_decoding", family="decoding", paper="Toy decoding",
            claim="eval.claims.toy_decoding:check",
            report="eval.claims.toy_decoding:report")


        def generate(lm, prompt, new_tokens):
          return sampling.generate(lm, prompt, new_tokens)
        ''',
    # interp: an experiment on a model, nothing to train.
    "zoo/interp/toy_interp.py": '''
        from zoo import registry

        SYSTEM = registry.System(
            name="toy_interp", family="interp", paper="Toy interp",
            claim="eval.claims.toy_interp:check")
        ''',
    # arch: a model of its own shape, trained by an existing task.
    "zoo/arch/toy_arch.py": '''
        import dataclasses

        from zoo import registry
        from zoo.lm import decoder


        @dataclasses.dataclass(frozen=True)
        class ToyConfig(decoder.DecoderConfig):
          pass


        SYSTEM = registry.System(
            name="toy_arch", family="arch", paper="Toy arch",
            default_config=ToyConfig, builder=decoder.build,
            configs=("train.configs.toy_arch:get_config",),
            task="train.tasks.lm_next_token:TASK",
            evaluators=("train.evaluators.lm_perplexity:evaluate",),
            claim="eval.claims.toy_arch:check",
            datasets=("train.data.builders.stdlib_bpe:StdlibTextBpe",))
        ''',
    "train/configs/toy_arch.py": '''
        import dataclasses

        from train import config as config_lib


        def get_config(arg=""):
          base = config_lib.load_config("lm.py:" + arg)
          return dataclasses.replace(base, system="toy_arch")
        ''',
}
for _family in FAMILIES:
  FILES[f"eval/claims/toy_{_family}.py"] = f'''
      from eval.claims import measured


      def check():
        return [measured("toy_{_family}", "a toy claim", "toy_metric", 2.0,
                         1.0, 1.5)]


      def report(target, prompts, new_tokens):
        return {{"toy": 1.0}}
      '''


def _copy_tree(dest: pathlib.Path) -> pathlib.Path:
  ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
  for package in ("pallas_kernels", "ops", "zoo", "train", "eval"):
    shutil.copytree(ROOT / package, dest / package, ignore=ignore)
  shutil.copytree(ROOT / "docs", dest / "docs")
  shutil.copy(ROOT / "README.md", dest / "README.md")
  for name, text in FILES.items():
    assert not (dest / name).exists(), f"{name} would edit an existing file"
    (dest / name).write_text(textwrap.dedent(text).lstrip())
  return dest


def _run(tree: pathlib.Path, *args: str, timeout: int = 300) -> str:
  env = {**os.environ, "PYTHONPATH": str(tree), "JAX_PLATFORMS": "cpu",
         "XLA_FLAGS": ""}
  proc = subprocess.run([sys.executable, "-m", *args], cwd=tree, env=env,
                        capture_output=True, text=True, timeout=timeout)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return proc.stdout


def test_a_new_system_per_family_is_found_everywhere(tmp_path):
  tree = _copy_tree(tmp_path / "tree")
  names = [f"toy_{family}" for family in FAMILIES]
  picked = [arg for name in names for arg in ("--system", name)]

  checked = _run(tree, "eval", "systems", *picked)
  assert all(f"ok  {name}" in checked for name in names), checked

  listed = _run(tree, "train", "--list")
  for name, family in zip(names, FAMILIES):
    assert any(line.split()[:2] == [name, family]
               for line in listed.splitlines()), listed

  ledger = tree / "docs" / "claims.json"
  before = json.loads(ledger.read_text())
  records = json.loads(_run(tree, "eval", "claims", *picked, "--json",
                            "--update", str(ledger)))
  assert [r["system"] for r in records] == names
  after = json.loads(ledger.read_text())
  assert after[:len(before)] == before  # the other systems' records stay
  assert [r["system"] for r in after[len(before):]] == names

  _run(tree, "eval", "readme")
  readme = (tree / "README.md").read_text()
  for name, family in zip(names, FAMILIES):
    assert (f"| `{name}` | {family} | Toy {family} | "
            f"toy_metric 2 vs 1.5: pass |") in readme

  ranked = json.loads(_run(tree, "eval", "retrieval", "--dataset",
                           "limit_small", "--ranker", "toy_retrieval",
                           "--queries", "5", "--plot",
                           str(tmp_path / "recall.png"), "--json"))
  assert list(ranked["rankers"]) == ["toy_retrieval"]


def test_a_new_codebook_kind_trains_without_editing_the_quantizer(tmp_path):
  tree = _copy_tree(tmp_path / "tree")
  summary = json.loads(_run(
      tree, "train", "--config", "train/configs/toy_vq.py:smoke", "--workdir",
      str(tmp_path / "run")).splitlines()[-1])
  assert summary["system"] == "toy_vq" and summary["step"] == 20
  saved = json.loads((tmp_path / "run" / "config.json").read_text())
  assert saved["model"]["quantizer"]["codebook"]["kind"] == "toy_codes"
