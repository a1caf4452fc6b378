"""Parity with mambapy's `MambaBlock` (PyTorch), where torch and mambapy are
installed (the `compare` extra); skipped otherwise. The same random weights
in both give the same outputs."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
mambapy = pytest.importorskip("mambapy.mamba")

from tests.zoo.test_mamba import CFG, EMBED, _u, mixer  # noqa: E402,F401


def _peer_block(params):
  peer = mambapy.MambaBlock(mambapy.MambaConfig(
      d_model=EMBED, n_layers=1, d_state=CFG.d_state, d_conv=CFG.d_conv,
      expand_factor=CFG.expand, pscan=False))
  tensor = lambda x: torch.tensor(np.asarray(x, np.float32))
  with torch.no_grad():
    peer.in_proj.weight.copy_(tensor(params["in_proj"]["kernel"]).T)
    peer.conv1d.weight.copy_(tensor(params["conv_kernel"]).T[:, None, :])
    peer.conv1d.bias.copy_(tensor(params["conv_bias"]))
    peer.x_proj.weight.copy_(tensor(params["x_proj"]["kernel"]).T)
    peer.dt_proj.weight.copy_(tensor(params["dt_proj_kernel"]).T)
    peer.dt_proj.bias.copy_(tensor(params["dt_proj_bias"]))
    peer.A_log.copy_(tensor(params["A_log"]))
    peer.D.copy_(tensor(params["D"]))
    peer.out_proj.weight.copy_(tensor(params["out_proj"]["kernel"]).T)
  return peer


def test_equals_mambapy_with_copied_weights(mixer):  # noqa: F811
  module, params = mixer
  u = _u(11, length=17)
  ours = module.apply({"params": params}, u)[0]
  with torch.no_grad():
    theirs = _peer_block(params)(torch.tensor(np.asarray(u))).numpy()
  np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)
