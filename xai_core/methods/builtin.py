"""The built-in methods: importing this module registers them (the registry does it on first use)."""
from . import cam, gradients, lrp, occlusion, surrogates  # noqa: F401  (each module registers its methods)
