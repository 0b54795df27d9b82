"""Model diagnostics on held-out data: ELBO, importance-weighted NLL, KL, active units, MI."""
