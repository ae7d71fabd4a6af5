"""Where audio comes from: sources (a Hub dataset, an audio folder, the demo corpus), streaming, decoding and cropping
(audio), and the demo corpus's maker (demo_maker, espeak)."""
