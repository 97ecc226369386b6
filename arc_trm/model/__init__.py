"""The recursive reasoning models: TRM (and HRM as the baseline)."""

from arc_trm.model.hrm import HRM, HRMConfig
from arc_trm.model.trm import TRM, Carry, TRMConfig

ARCHS = {"trm": (TRM, TRMConfig), "hrm": (HRM, HRMConfig)}


def build_model(arch: str, config: TRMConfig) -> TRM:
    """The model class of `arch` ("trm" or "hrm") built from its config."""
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(ARCHS)}")
    return ARCHS[arch][0](config)


__all__ = ["ARCHS", "HRM", "HRMConfig", "TRM", "Carry", "TRMConfig", "build_model"]
