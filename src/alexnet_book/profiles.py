"""Profiles: one notebook, three sizes of run.

smoke: what CI runs under papermill (seconds to a minute a chapter on a 2-core CPU, still learns);
quick: what a CPU-only build of the site runs (minutes a chapter);
full:  the real CIFAR-10 run on a GPU;
auto:  full where a GPU is present, else quick. ALEXNET_BOOK_PROFILE, if set, decides what auto means,
       so `ALEXNET_BOOK_PROFILE=smoke make book` builds the whole site quickly.
"""

from __future__ import annotations

import os

PROFILES = ("smoke", "quick", "full")
ENV_VARIABLE = "ALEXNET_BOOK_PROFILE"


def resolve_profile(profile: str = "auto") -> str:
    """Turn a notebook's PROFILE parameter into one of PROFILES, with a clear error for anything else."""
    if not isinstance(profile, str) or profile.lower() not in PROFILES + ("auto",):
        raise ValueError(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES + ('auto',))}.")
    profile = profile.lower()
    if profile != "auto":
        return profile
    chosen = os.environ.get(ENV_VARIABLE, "").strip().lower()
    if chosen:
        if chosen not in PROFILES:
            raise ValueError(f"{ENV_VARIABLE}={chosen!r} is not a profile: set it to one of {', '.join(PROFILES)}.")
        return chosen
    from alexnet_book.hardware import gpu_available

    return "full" if gpu_available() else "quick"
