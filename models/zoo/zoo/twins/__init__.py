"""Layout twins: tiny random-weight models in the exact layouts of real SD 1.5 / SDXL / FLUX ONNX exports.

Build and check: cd models/zoo && /usr/bin/python3 -m zoo.twins.build [--smoke]. Facts: models/twins/FACTS.md.
"""
