"""What a run costs: the meter that measures it while it runs (meter) and the FLOPs every cost counts (flops)."""
