"""Processes end with their own exit status and no noise: a script that ends while the app's
warm-up is inside torch (it aborted with "terminate called without an active exception",
status 134), and a command whose reader closed stdout early (``explainer ... | head -1``
printed a BrokenPipeError traceback).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

BUSY_WARMUP = """
import sys, time
import torch
from explainer.app import warmup

def work():  # runs 120 s unless stopped
    nn = torch.nn
    net = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3))
    x = torch.rand(64, 1, 28, 28)
    end = time.monotonic() + 120
    with torch.no_grad():
        while time.monotonic() < end:
            net(x)

warmup.submit([warmup.Task("busy", "busy", work)])
time.sleep(1.0)
assert warmup.progress().current == "busy"
sys.exit(3)
"""


def test_a_busy_warmup_lets_the_process_exit_with_its_own_status():
    start = time.monotonic()
    res = subprocess.run(
        [sys.executable, "-c", BUSY_WARMUP], capture_output=True, text=True, timeout=200
    )
    assert "terminate called" not in res.stderr
    assert (res.returncode, res.stderr) == (3, "")
    assert time.monotonic() - start < 60  # the task was interrupted, not waited for


APP_TEST = """
import sys
from streamlit.testing.v1 import AppTest
from explainer.app import warmup

at = AppTest.from_file(sys.argv[1], default_timeout=120)
at.run()
assert not at.exception, at.exception
print("busy" if not warmup.progress().finished else "idle")
"""


def test_an_app_test_script_exits_cleanly(tmp_path):
    """The app under Streamlit's AppTest, its warm-up on and its cache empty, so the warm-up
    is still computing when the script ends."""
    pytest.importorskip("streamlit")
    env = {**os.environ, "EXPLAINER_WARMUP": "1", "EXPLAINER_CACHE_DIR": str(tmp_path)}
    res = subprocess.run(
        [sys.executable, "-c", APP_TEST, str(ROOT / "streamlit_app.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert "terminate called" not in res.stderr
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.split()[-1] == "busy"  # what the test is about did happen


def _to_closed_stdout(*args: str) -> subprocess.CompletedProcess:
    """``python -m explainer ARGS`` writing to a pipe whose reader has already gone."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run(
            [sys.executable, "-m", "explainer", *args],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            timeout=120,
        )
    finally:
        os.close(write)


@pytest.mark.parametrize(
    "args",
    [["capture", "mnist_fast_cnn", "--list-layers"], ["capture", "mnist_fast_cnn", "--digit", "3"]],
)
def test_a_closed_stdout_ends_a_command_quietly(args):
    res = _to_closed_stdout(*args)
    assert (res.returncode, res.stderr) == (141, "")  # 128 + SIGPIPE, as `cat` would


def test_help_into_head_has_no_traceback():
    """``explainer --help | head -1``: the reader takes one line and goes."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "explainer", "--help"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert proc.stdout.readline().startswith(b"usage: explainer")
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode in (0, 141)
    assert err == b""
    res = _to_closed_stdout("--help")
    assert res.returncode in (0, 141)  # argparse's help ignores a closed stdout: 0
    assert res.stderr == ""
