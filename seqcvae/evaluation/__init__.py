"""Model diagnostics on held-out data: negative ELBO, importance-weighted NLL, KL, active units, MI."""
