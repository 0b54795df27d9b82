"""One orchestrator per command: wires data, models, training and evaluation; no argparse."""
