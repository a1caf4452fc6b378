"""Activation hooks of the decoder: modules spliced into its blocks at
named sites, one plug-in kind per module of this package.

A site is a place in a block where an activation [..., G, d] may be
replaced by a module's output of the same shape:

* "attn_preproj": the attention's per-head outputs [B, T, H, d_head],
  before the output projection (G = H, one group per query head);
* "mlp": the MLP's output [B, T, 1, E] (G = 1), before the residual add.

The default kind, "none", splices nothing, so a decoder without hooks has
exactly the params and outputs it had before hooks existed. Codebook
Features' codebooks are the kind "codebook" (`zoo.vq.codebook_features`).
"""

import abc
import dataclasses

import flax.linen as nn

from zoo.plugins import Plugin

SITES = ("attn_preproj", "mlp")


@dataclasses.dataclass(frozen=True)
class HookConfig(Plugin, abc.ABC):
  """Base of the hook kinds."""

  package = "zoo.layers.hooks"

  @abc.abstractmethod
  def module(self, site: str, groups: int, dim: int,
             name: str) -> nn.Module | None:
    """The module for `site`, mapping [..., groups, dim] to the same shape,
    created (inside the caller's compact method) as child `name`; None
    leaves the site alone."""

  def apply(self, site: str, x, name: str):
    """x [..., G, d] through the module at `site`, or unchanged."""
    module = self.module(site, x.shape[-2], x.shape[-1], name)
    return x if module is None else module(x)


@dataclasses.dataclass(frozen=True)
class NoHooks(HookConfig):
  """No hooks: every site is left alone."""

  kind = "none"

  def module(self, site, groups, dim, name):
    del site, groups, dim, name
    return None
