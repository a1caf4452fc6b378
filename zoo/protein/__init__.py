"""Protein geometry and models: residue frames (`rigid`) and frame networks
(`vfn`: vector field attention, with an IPA-lite baseline)."""
