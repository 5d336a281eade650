"""The content model: loaded from the installed package with no network and no hub cache, and
its vectors say which texts are alike."""
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from recommendations import content

ROOT = Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter: every socket connection and name lookup raises, so a model that
# reached for a hub would fail; the home and cache folders are empty and must stay so.
OFFLINE_PROBE = textwrap.dedent("""
    import socket, sys
    def refuse(*args, **kwargs):
        raise OSError("network use during the content model's load")
    socket.socket.connect = refuse
    socket.create_connection = refuse
    socket.getaddrinfo = refuse
    from recommendations import content
    vectors = content.embed(["Espresso machine with steam wand", "Coffee maker for espresso"])
    print(vectors.shape[1], round(float(vectors[0] @ vectors[1]), 3))
""")


def test_the_model_loads_from_site_packages_with_the_network_blocked(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"),
           "HF_HOME": str(home / "hf"), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-c", OFFLINE_PROBE]
    # As root (CI), also in a network namespace with no interface but loopback's.
    if os.geteuid() == 0 and shutil.which("unshare") and subprocess.run(["unshare", "-n", "true"]).returncode == 0:
        command = ["unshare", "-n", *command]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    dims, similarity = result.stdout.split()
    assert int(dims) == content.DIMENSIONS
    assert float(similarity) > 0.5
    assert list(home.iterdir()) == []  # nothing downloaded or cached


def test_alike_texts_are_nearer_than_unrelated_ones():
    vectors = content.embed([
        content.item_text("Stainless steel frying pan", "28 cm, for induction hobs"),
        content.item_text("Non-stick skillet", "A pan for gas and induction cooking"),
        content.item_text("Trail running shoes", "Cushioned sole, grips on mud"),
    ])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.1


def test_a_text_with_no_known_token_is_similar_to_nothing():
    vectors = content.embed(["", "Frying pan"])
    assert not vectors[0].any()
    assert vectors[0] @ vectors[1] == 0.0


def test_a_long_description_is_cut_before_embedding():
    assert len(content.item_text("Pan", "word " * 5000)) == content.TEXT_MAX_CHARS
