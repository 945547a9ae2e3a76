# The project is described in pyproject.toml; this file only maps the top-level experiments/ and
# datasets/ folders into the built package (sciml/_layout/...), which pyproject's package discovery
# cannot express, so that an installed copy finds its experiment configs and dataset recipes.
from setuptools import find_packages, setup

LAYOUT = {"sciml._layout.experiments": "experiments", "sciml._layout.datasets": "datasets"}

setup(packages=find_packages(include=["sciml", "sciml.*"]) + list(LAYOUT),
      package_dir=LAYOUT,
      package_data={"sciml._layout.experiments": ["*/*.yaml", "*/*.md"],
                    "sciml._layout.datasets": ["*.yaml", "*.md"]})
