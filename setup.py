# The project is described in pyproject.toml; this file only maps the top-level experiments/ and
# datasets/ folders into the built package (sciml/_shipped/...), which pyproject's package discovery
# cannot express, so that an installed copy finds its experiment configs and dataset recipes.
from setuptools import find_packages, setup

LAYOUT = {"sciml._shipped.experiments": "experiments", "sciml._shipped.datasets": "datasets"}

setup(packages=find_packages(include=["sciml", "sciml.*"]) + list(LAYOUT),
      package_dir=LAYOUT,
      package_data={"sciml._shipped.experiments": ["*/*.yaml", "*/*.md"],
                    "sciml._shipped.datasets": ["*.yaml", "*.md"]})
