"""Install musegan: `pip install -e .` (console script `musegan`)."""
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
JAX = ["jax>=0.4.30"]
# `musegan app`: the page (Gradio 6 takes the theme and CSS at launch)
APP = ["gradio>=6.0,<7"]


def requirements(name: str) -> list:
    lines = (HERE / name).read_text().splitlines()
    return [l.strip() for l in lines if l.strip() and not l.startswith(("#", "-r"))]


setup(
    name="musegan",
    version="2.0.0",
    description="MuseGAN (Dong et al., AAAI 2018) on current TensorFlow: "
    "multi-track music generation and accompaniment of your own MIDI files.",
    long_description=(HERE / "README.md").read_text() if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    packages=find_packages(include=["musegan", "musegan.*"]),
    package_data={"musegan": ["defaults/*.yaml"]},
    install_requires=requirements("requirements.txt"),
    extras_require={
        # the jax backend of `musegan train` (--backend jax), which runs without TensorFlow
        "jax": JAX,
        "app": APP,
        # tests/test_parity.py compares the two backends; tests/test_app.py drives the app in Debian's
        # Chromium with Playwright (no browser download: .ci/run installs chromium)
        "test": ["pytest>=7", "hypothesis>=6.0", "import-linter>=2.1", "nbclient>=0.8", "nbformat>=5.7", "ipykernel>=6.0",
                 *JAX, *APP, "playwright>=1.40"],
    },
    entry_points={"console_scripts": ["musegan=musegan.cli:run"]},
    license="MIT",
)
