"""The masked-diffusion LM of the list tasks, trained once and then loaded.

    mdm = load()                    # train/configs/mdm_lists.py
    out = generate(mdm.lm, prompts, gen_len=mdm.gen_len,
                   block_len=mdm.block_len, rule=..., attention=mdm.attention)

The first call trains it into the user cache (`train.store.run_once`);
later calls load it.
"""

import pathlib

import jax

from train import config as config_lib
from train import loop, store
from train.data import list_tasks
from zoo.lm import diffusion

CONFIG = "mdm_lists.py"


def workdir_for(smoke: bool = False, seed: int = 0) -> pathlib.Path:
  return store.cache_dir("parallelbench") / (
      "mdm_lists" + ("_smoke" if smoke else "")
      + (f"_seed{seed}" if seed else ""))


def load(smoke: bool = False, workdir: str | pathlib.Path | None = None,
         seed: int = 0) -> diffusion.TrainedMDM:
  """The list-task MDM: from `workdir`, or trained once into the cache.

  Args:
    smoke: the `:smoke` variant (a tiny model, for tests).
    workdir: a `parallelbench` training workdir to load instead.
    seed: the training seed (`:seed=N`; seed 0 is the original model).
  """
  if workdir is None:
    arg = ",".join(["smoke"] * smoke + [f"seed={seed}"] * bool(seed))
    workdir = store.run_once(
        lambda: config_lib.load_config(CONFIG + (":" + arg if arg else "")),
        workdir_for(smoke, seed), f"the list-task MDM (seed {seed})")
  workdir = pathlib.Path(workdir)
  run, state, _ = loop.load(workdir, devices=jax.devices()[:1])
  if run.cfg.system != "parallelbench":
    raise ValueError(f"{workdir} holds a {run.cfg.system!r} run, not a "
                     f"parallelbench MDM")
  cfg = run.cfg.model
  params = jax.device_get(state.params)
  # Answer positions: the trained canvas after the prompt.
  gen_len = (cfg.max_len - cfg.prompt_len if cfg.max_len else
             list_tasks.GEN_LEN)
  return diffusion.TrainedMDM(cfg, diffusion.denoiser(cfg, params), gen_len,
                              workdir)
