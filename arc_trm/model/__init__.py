"""The recursive reasoning models: TRM (and HRM as the baseline)."""
