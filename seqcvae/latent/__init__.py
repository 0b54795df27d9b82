"""Latent-space tools for SMILES models: encode, reconstruct, neighbours, interpolate, optimize.

Every molecule they return is checked and measured with RDKit and carries its Tanimoto similarity
(Morgan radius 2, 2048 bits) to the seed it came from.
"""
