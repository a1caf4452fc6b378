"""The masked-diffusion LM of the list tasks, trained once and then loaded.

    mdm = load()                    # train/configs/mdm_lists.py
    out = generate(mdm.lm, prompts, gen_len=mdm.gen_len,
                   block_len=mdm.block_len, rule=..., attention=mdm.attention)

The first call trains it with `train.loop.run` into the user cache (a lock
lets concurrent first calls train it once); later calls load it.
"""

import dataclasses
import pathlib

import jax

from eval.parallelbench import lists
from train import config as config_lib
from train import loop
from zoo import cache
from zoo.lm import diffusion
from zoo.lm.decoder import CachedLM

CONFIG = "mdm_lists.py"


@dataclasses.dataclass(frozen=True)
class TrainedMDM:
  """A trained MaskedDiffusionLM ready for `ops.decoding.diffusion`.

  Attributes:
    config: its DiffusionConfig.
    lm: the network as a CachedLM.
    workdir: where it was trained.
  """

  config: diffusion.DiffusionConfig
  lm: CachedLM
  workdir: pathlib.Path

  @property
  def block_len(self) -> int:
    return self.config.block_len

  @property
  def attention(self) -> str:
    return self.config.attention

  @property
  def gen_len(self) -> int:
    """Answer positions: the trained canvas after the prompt."""
    cfg = self.config
    return cfg.max_len - cfg.prompt_len if cfg.max_len else lists.GEN_LEN


def workdir_for(smoke: bool = False) -> pathlib.Path:
  return cache.user_cache_dir() / "parallelbench" / (
      "mdm_lists" + ("_smoke" if smoke else ""))


def load(smoke: bool = False, workdir: str | pathlib.Path | None = None
         ) -> TrainedMDM:
  """The list-task MDM: from `workdir`, or trained once into the cache.

  Args:
    smoke: the `:smoke` variant (a tiny model, for tests).
    workdir: a `parallelbench` training workdir to load instead.
  """
  if workdir is None:
    workdir = loop.run_once(
        lambda: config_lib.load_config(CONFIG + (":smoke" if smoke else "")),
        workdir_for(smoke), "the list-task MDM")
  workdir = pathlib.Path(workdir)
  run, state, _ = loop.load(workdir, devices=jax.devices()[:1])
  if run.cfg.system != "parallelbench":
    raise ValueError(f"{workdir} holds a {run.cfg.system!r} run, not a "
                     f"parallelbench MDM")
  params = jax.device_get(state.params)
  return TrainedMDM(run.cfg.model, diffusion.denoiser(run.cfg.model, params),
                    workdir)
