"""The package list, the one part of the build pyproject.toml cannot say.

The shipped probe artifacts stay in the checkout's top-level `probes/` (a
data folder, no Python package) and travel in the wheel as the package data
`cotexit/shipped_probes/`. pyproject.toml's `packages.find` names a package
by its folder, so it cannot add one whose folder lies outside its parent's:
the list is made here, every `cotexit*` package plus that mapping.
`cotexit.shipped` finds the probes in both places.
"""

from setuptools import find_namespace_packages, setup

setup(
    packages=[*find_namespace_packages(include=["cotexit*"]), "cotexit.shipped_probes"],
    package_dir={"cotexit.shipped_probes": "probes"},
)
