"""Adversarial inputs (issue 13): every bad file or option is one line, costs little memory,
runs no code, and leaves existing files intact with their mode and no temporary file.

Each case makes its bad file, runs the command (in-process through ``main`` where possible,
one subprocess for the memory and signal cases) and checks what the user sees and what is on
disk afterwards.
"""

from __future__ import annotations

import copy
import io
import json
import os
import re
import signal
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from explainer import io as eio
from explainer.cli import main
from explainer.nets.architectures import build
from explainer.nets.checkpoints import load_checkpoint, make_payload, save_checkpoint
from explainer.safe_npz import MAX_ARRAY_BYTES, NpzError, open_bounded_npz
from explainer.tracing.checks import TraceCheckError, validate_trace

ROOT = Path(__file__).resolve().parent.parent
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x00\x00\x00\x00"
    b":~\x9bU\x00\x00\x00\nIDATx\x9cc\xf8\x0f\x00\x01\x01\x01\x00\x1b\xb6\xeeV\x00\x00\x00"
    b"\x00IEND\xaeB`\x82"
)  # a valid 1×1 PNG: a picture, not a checkpoint or a trace


def one_line(err: str) -> None:
    assert err.startswith("explainer: error: "), err
    assert err.count("\n") == 1 and "Traceback" not in err, err


def run_cli(capsys, *argv: str) -> str:
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert rc == 2, (rc, err)
    one_line(err)
    return err


def listing(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file below ``folder`` with its bytes and mode (hidden temp files included)."""
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mode & 0o7777)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def other_ckpt(tmp_path_factory):
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("models2") / "mnist_linear.pt"
    save_checkpoint(
        path, make_payload(build("linear"), dataset="mnist", class_names=list("0123456789"))
    )
    return path


@pytest.fixture(scope="module")
def trace(ckpt_path, sample):
    from explainer.tracing.capture import capture_checkpoint

    image = sample.images[0].numpy() / 255.0
    return capture_checkpoint(load_checkpoint(ckpt_path), image, label=int(sample.labels[0]))


@pytest.fixture(scope="module")
def trace_path(trace, tmp_path_factory):
    return trace.save(tmp_path_factory.mktemp("traces") / "t.npz")


# --- outputs ----------------------------------------------------------------------------------


@pytest.fixture
def no_work(monkeypatch):
    """Loading a checkpoint is the first piece of work of every command: make it fail loudly.
    The file read inside ``load_checkpoint`` is patched, not ``load_checkpoint`` itself, so a
    module first imported during the test keeps the real function once the test is over."""
    import explainer.nets.checkpoints

    def refuse(*_a, **_k):
        raise AssertionError("the work started before the output was checked")

    monkeypatch.setattr(explainer.nets.checkpoints, "read_payload", refuse)


def _output_cases(ckpt: Path, bad: str) -> list[list[str]]:
    return [
        ["render", "forward", "--checkpoint", ckpt, "--out", f"{bad}/x.gif"],
        ["capture", ckpt, "--digit", "3", "--out", f"{bad}/t.npz"],
        ["predict", "--model", ckpt, "--out", f"{bad}/p.csv", "some.png"],
        ["predict", "--model", ckpt, "--save-preprocessed", f"{bad}/steps", "some.png"],
        ["evaluate", ckpt, "--sample", "--out", f"{bad}/report"],
        ["insights", ckpt, "--out", f"{bad}/insights"],
        ["compare", ckpt, "--sample", "--out", f"{bad}/compare"],
    ]


@pytest.mark.parametrize("case", range(7))
def test_unwritable_outputs_fail_first_in_one_line(case, ckpt_path, tmp_path, capsys, no_work):
    (tmp_path / "afile").write_text("a file, not a folder")
    before = listing(tmp_path)
    for bad in ("/proc", str(tmp_path / "afile")):
        argv = _output_cases(ckpt_path, bad)[case]
        err = run_cli(capsys, *argv)
        assert "cannot write" in err or "not a folder" in err
    assert listing(tmp_path) == before


READ_ONLY_SCRIPT = r"""
import sys
from explainer.io import OutputError, atomic_write, check_writable
for attempt in (lambda: check_writable(sys.argv[1]), lambda: atomic_write(sys.argv[1]).__enter__()):
    try:
        attempt()
    except OutputError as exc:
        print(exc)
"""


def test_read_only_folder_is_one_line(tmp_path):
    """As a user who may not write the folder (root runs the check as ``nobody``)."""
    import shutil
    import tempfile

    prefix: list[str] = []
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("root writes into read-only folders, and setpriv is missing")
        prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    base = Path(tempfile.mkdtemp(prefix="explainer-ro-"))  # reachable by nobody, unlike tmp_path
    try:
        base.chmod(0o755)
        (base / "ro").mkdir(mode=0o555)
        out = base / "ro" / "x.gif"
        r = subprocess.run(
            [*prefix, sys.executable, "-c", READ_ONLY_SCRIPT, str(out)],
            capture_output=True, text=True, timeout=60, cwd=ROOT,
        )  # fmt: skip
        lines = r.stdout.splitlines()
        assert r.returncode == 0 and r.stderr == "", r.stderr
        assert len(lines) == 2 and all("permission denied" in line for line in lines), lines
        assert list((base / "ro").iterdir()) == []
    finally:
        (base / "ro").chmod(0o755)
        shutil.rmtree(base)


def test_check_writable_accepts_new_folders_and_creates_nothing(tmp_path):
    eio.check_writable(tmp_path / "a" / "b" / "x.gif")
    eio.check_writable(tmp_path / "c" / "d", folder=True)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(eio.OutputError, match="is a folder"):
        eio.check_writable(tmp_path)


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o755])
def test_atomic_write_keeps_the_mode_of_an_existing_file(tmp_path, mode):
    path = tmp_path / "secret.txt"
    path.write_text("old")
    path.chmod(mode)
    eio.write_text_atomic(path, "new")
    assert path.read_text() == "new" and path.stat().st_mode & 0o7777 == mode
    assert [p.name for p in tmp_path.iterdir()] == ["secret.txt"]


def test_atomic_write_gives_new_files_the_umask_default(tmp_path):
    old = os.umask(0o027)
    try:
        eio.write_text_atomic(tmp_path / "new.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "new.txt").stat().st_mode & 0o777 == 0o666 & ~0o027


def test_atomic_write_syncs_the_data_before_the_rename(tmp_path, monkeypatch):
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", str(src)))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    eio.write_text_atomic(tmp_path / "f.txt", "data")
    tmp = next(src for what, src in events if what == "replace")
    assert events.index(("fsync", tmp)) < events.index(("replace", tmp))


def test_atomic_write_error_leaves_the_old_file(tmp_path):
    path = tmp_path / "keep.txt"
    path.write_text("old")
    path.chmod(0o600)
    with pytest.raises(RuntimeError), eio.atomic_write(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert listing(tmp_path) == {"keep.txt": (b"old", 0o600)}


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, -signal.SIGINT)])
def test_a_signal_during_a_write_leaves_no_temp_file(tmp_path, sig, code):
    path = tmp_path / "keep.txt"
    path.write_text("old")
    path.chmod(0o600)
    script = (
        "import os, sys, time\n"
        "from explainer.io import atomic_write\n"
        "with atomic_write(sys.argv[1]) as tmp:\n"
        "    tmp.write_text('half')\n"
        f"    os.kill(os.getpid(), {int(sig)})\n"
        "    time.sleep(30)\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == code, r.stderr
    assert listing(tmp_path) == {"keep.txt": (b"old", 0o600)}


# --- traces: bounded reading ------------------------------------------------------------------


def npy_bytes(shape: tuple, dtype: str = "<f4", data: bytes = b"", fortran: bool = False) -> bytes:
    """A .npy file whose header says ``shape``/``dtype``, followed by ``data`` (any length)."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": dtype, "fortran_order": fortran, "shape": shape}
    )
    return buf.getvalue() + data


def make_npz(path: Path, members: dict[str, bytes], declare: dict[str, int] | None = None) -> Path:
    """A zip of ``members``; ``declare`` overwrites a member's declared uncompressed size in
    the central directory (what zipfile trusts), as a hostile file would."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    raw = bytearray(path.read_bytes())
    at = raw.find(b"PK\x01\x02")
    while at >= 0:  # each central directory entry: the size is at +24, the name at +46
        (name_len,) = struct.unpack_from("<H", raw, at + 28)
        name = raw[at + 46 : at + 46 + name_len].decode()
        if name in (declare or {}):
            struct.pack_into("<I", raw, at + 24, declare[name])
        at = raw.find(b"PK\x01\x02", at + 46 + name_len)
    path.write_bytes(bytes(raw))
    return path


class Evil:
    """Unpickling this would create a file: proof that no pickle ran."""

    marker = ""

    def __reduce__(self):
        return (open, (self.marker, "w"))


def bad_traces(tmp: Path, good: Path) -> dict[str, tuple[Path, str]]:
    """Bad trace files, each with a phrase its one-line error must contain."""
    tb = 2**40
    out = {
        "4 TB array": (make_npz(tmp / "tb.npz", {"out0.npy": npy_bytes((tb,), data=b"\0" * 64)}),
                       "declares"),
        "2 GB inflation": (make_npz(tmp / "bomb.npz", {"out0.npy": npy_bytes((2**29,))},
                                    declare={"out0.npy": 2**31}), "inflates"),
        "honest 80 MB": (make_npz(tmp / "big.npz", {"out0.npy": npy_bytes(
            (20 * 2**20,), data=bytes(80 * 2**20))}), "inflates"),
        "total over the cap": (make_npz(tmp / "many.npz", {
            f"out{i}.npy": npy_bytes((MAX_ARRAY_BYTES // 8,)) for i in range(9)},
            declare={f"out{i}.npy": MAX_ARRAY_BYTES // 2 + 128 for i in range(9)}), "inflates"),
        "png": (tmp / "two.png", "not a .npz archive"),
        "npy": (tmp / "plain.npy", "plain .npy"),
        "cut": (tmp / "cut.npz", "damaged"),
        "short data": (make_npz(tmp / "short.npz", {"out0.npy": npy_bytes((100,), data=b"\0" * 8)}),
                       "cut short"),
        "not npy": (make_npz(tmp / "txt.npz", {"readme.txt": b"hello"}), "not a .npy"),
        "bad header": (make_npz(tmp / "hdr.npz", {"out0.npy": b"\x93NUMPY\x01\x00\x10\x00{'x':"}),
                       "damaged header"),
        "objects": (tmp / "evil.npz", "Python objects"),
    }  # fmt: skip
    (tmp / "two.png").write_bytes(PNG)
    np.save(tmp / "plain.npy", np.arange(3))
    data = good.read_bytes()
    (tmp / "cut.npz").write_bytes(data[: len(data) // 2])
    Evil.marker = str(tmp / "PWNED")
    np.savez(tmp / "evil.npz", header=np.array([Evil()], dtype=object))
    return out


MEMORY_SCRIPT = r"""
import json, resource, sys
from explainer.tracing.trace import Trace, TraceError
Trace.load(sys.argv[1])  # warm up: imports and one good trace
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
refused = []
for path in sys.argv[2:]:
    try:
        Trace.load(path)
    except TraceError:
        refused.append(path)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"grew_kb": peak - base, "refused": refused}))
"""


def test_bad_traces_are_one_line_with_bounded_memory(trace_path, tmp_path, capsys):
    cases = bad_traces(tmp_path, trace_path)
    before = listing(tmp_path)
    files = [str(p) for p, _ in cases.values()]
    r = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, str(trace_path), *files],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads(r.stdout.strip().splitlines()[-1])
    assert report["refused"] == files
    # the 80 MB member would cost 80 MB and the 2 GB one 2 GB: nothing close was allocated
    assert report["grew_kb"] < 40_000, report["grew_kb"]
    for what, (path, phrase) in cases.items():
        err = run_cli(capsys, "capture", "--show", path)
        assert phrase in err and "allow_pickle" not in err, (what, err)
    assert not (tmp_path / "PWNED").exists()
    assert listing(tmp_path) == before


def test_bounded_reader_matches_numpy_on_real_arrays(tmp_path, trace_path):
    arrays = {
        "c": np.arange(24, dtype=np.float32).reshape(2, 3, 4),
        "f": np.asfortranarray(np.arange(12, dtype=">i4").reshape(3, 4)),
        "s": np.array("some text"),
        "b": np.array([True, False]),
        "e": np.zeros((0, 5)),
    }
    np.savez_compressed(tmp_path / "x.npz", **arrays)
    for path in (tmp_path / "x.npz", trace_path):
        mine = open_bounded_npz(path)
        with np.load(path, allow_pickle=False) as ref:
            assert sorted(mine) == sorted(ref.files)
            for k in ref.files:
                assert mine[k].dtype == ref[k].dtype and mine[k].shape == ref[k].shape
                np.testing.assert_array_equal(mine[k], ref[k])
    assert mine["out1"].flags.writeable
    with pytest.raises(NpzError, match="no such file"):
        open_bounded_npz(tmp_path / "missing.npz")


# --- traces: consistency ----------------------------------------------------------------------


def _spoil(trace, how: str):
    t = copy.deepcopy(trace)
    if how == "class_names":
        t.class_names = t.class_names[:5]
    elif how == "label":
        t.label = 42
    elif how == "image":
        t.image = np.zeros(3, np.float32)
    elif how == "logits":
        t.logits = np.zeros(0, np.float32)
    elif how == "nan logits":
        t.logits = t.logits.copy()
        t.logits[3] = np.nan
    elif how == "output":
        t.layers[1].output = np.array(["not", "numbers"])
    elif how == "inputs":
        t.layers[1].inputs = [t.layers[2].name]
    elif how == "weight":
        t.layers[1].weight = np.full((2, 2), np.inf, np.float32)
    return t


SPOILED = {
    "class_names": "class_names",
    "label": "label",
    "image": "image",
    "logits": "logits",
    "nan logits": "logits",
    "output": "layers[1]",
    "inputs": "inputs",
    "weight": "weight",
}


def test_a_captured_trace_is_valid(trace):
    validate_trace(trace)  # no error
    assert trace.layers[1].inputs  # the check of inputs below has something to check


@pytest.mark.parametrize("how", SPOILED)
def test_inconsistent_traces_name_the_field(trace, tmp_path, capsys, how):
    bad = _spoil(trace, how)
    with pytest.raises(TraceCheckError, match=re.escape(SPOILED[how])) as exc:
        validate_trace(bad)
    assert "\n" not in str(exc.value)
    if how in ("class_names", "label", "output", "nan logits"):  # the same through a file
        bad.save(tmp_path / "bad.npz")
        err = run_cli(capsys, "capture", "--show", tmp_path / "bad.npz")
        assert SPOILED[how] in err


# --- messages ---------------------------------------------------------------------------------


def test_predict_none_is_a_type_error(ckpt_path):
    from explainer.reading.predict import Predictor

    with pytest.raises(TypeError, match="file path, bytes"):
        Predictor(ckpt_path).predict(None)


def test_unreadable_upload_names_no_python_object():
    from explainer.reading.images import UnreadableImageError
    from explainer.reading.preprocess import preprocess

    with pytest.raises(UnreadableImageError) as exc:
        preprocess(b"this is not a picture at all")
    assert "0x" not in str(exc.value) and "<_io" not in str(exc.value)
    assert "not a readable image" in str(exc.value)


def test_picture_given_as_checkpoint_or_trace(tmp_path, capsys, trace_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "two.png").write_bytes(PNG)
    err = run_cli(capsys, "capture", tmp_path / "two.png", "--digit", "1")
    assert "weights_only" not in err and "two.png" in err
    err = run_cli(capsys, "render", "forward", "--trace", tmp_path / "two.png", "--out", "x.gif")
    assert "allow_pickle" not in err and "two.png" in err


def test_render_option_messages(ckpt_path, other_ckpt, trace_path, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = ["render", "convolution", "--trace", trace_path, "--out", "x.gif"]
    for opt in (["--fps", "0"], ["--seconds", "0"], ["--fps", "-3"], ["--fps", "nan"]):
        assert "out of range" in run_cli(capsys, *base, *opt)
    err = run_cli(capsys, *base, "--layer", "nope")
    names = [r.name for r in load_trace_layers(trace_path) if r.kind == "conv"]
    assert all(n in err for n in names) and "relu" not in err and "normalize" not in err
    err = run_cli(capsys, *base, "--checkpoint", other_ckpt)
    assert "mnist_tinyvgg" in err and "--checkpoint" in err
    err = run_cli(capsys, "render", "training", "--checkpoint", ckpt_path, "--out", "x.gif",
                  "--snapshots", "missing.pt")  # fmt: skip
    assert "not found: missing.pt" in err
    err = run_cli(capsys, "render", "training", "--checkpoint", ckpt_path, "--out", "x.gif",
                  "--snapshots", ckpt_path)  # fmt: skip
    assert "at least two" in err
    assert list(tmp_path.iterdir()) == []


def load_trace_layers(path):
    from explainer.tracing.trace import Trace

    return Trace.load(path).layers


def test_forward_honours_a_short_length(trace_path, tmp_path, capsys):
    """Forward fits any number of stages into the length asked for (it used to refuse 2 s)."""
    out = tmp_path / "a.gif"
    base = ["render", "forward", "--trace", trace_path, "--fps", "7", "--size", "480x270"]
    assert main([*map(str, base), "--seconds", "2", "--out", str(out)]) == 0
    from PIL import Image

    with Image.open(out) as gif:
        total_ms = sum((gif.seek(i), gif.info["duration"])[1] for i in range(gif.n_frames))
    assert total_ms == pytest.approx(2000, abs=150)


@pytest.mark.parametrize(("kind", "fps"), [("convolution", "4")])
def test_the_suggested_seconds_are_enough(trace_path, tmp_path, capsys, kind, fps):
    """A whole number of seconds that works, never one that fails again."""
    base = ["render", kind, "--trace", trace_path, "--fps", fps, "--size", "480x270"]
    err = run_cli(capsys, *base, "--seconds", "2", "--out", tmp_path / "a.png")
    need = int(re.search(r"use --seconds (\d+) or more", err).group(1))
    assert need > 2
    assert main([*map(str, base), "--seconds", str(need), "--out", str(tmp_path / "a.png")]) == 0
    assert (tmp_path / "a.png").is_file()
    if kind == "convolution":  # its suggestion is exact
        err = run_cli(capsys, *base, "--seconds", str(need - 1), "--out", tmp_path / "b.png")
        assert f"--seconds {need} or more" in err


def test_insights_has_the_snapshots_flag_it_suggests():
    from explainer.cli import build_parser

    args = build_parser().parse_args(["insights", "--out", "x", "--snapshots", "a.pt", "b.pt"])
    assert args.snapshots == ["a.pt", "b.pt"]


def test_saved_steps_of_same_named_pictures_do_not_overwrite(ckpt_path, tmp_path, capsys):
    from PIL import Image

    pics = tmp_path / "pics"
    pics.mkdir()
    digit = np.zeros((60, 60), np.uint8)
    digit[10:50, 28:33] = 255
    Image.fromarray(digit).save(pics / "seven.png")
    Image.fromarray(digit).save(pics / "seven.jpg")
    out = tmp_path / "steps"
    rc = main(["predict", "--model", str(ckpt_path), str(pics), "--save-preprocessed", str(out)])
    text = capsys.readouterr().out
    assert rc == 0
    said = int(re.search(r"saved (\d+) preprocessing pictures", text).group(1))
    files = sorted(p.name for p in out.iterdir())
    strips = [f for f in files if f.endswith("_steps.png")]
    assert said == len(files) and strips == ["seven_png_steps.png", "seven_steps.png"]
    mine = [f for f in files if f.startswith("seven_png_")]
    assert len(mine) == len(files) // 2  # as many pictures for each: nothing overwritten


@pytest.mark.parametrize("wrong", [0, None, 3.5, ["mnist"]])
def test_a_dataset_that_is_not_a_name_is_one_line(wrong):
    from explainer import ExplainerError, load_sample

    with pytest.raises(ExplainerError, match="unknown dataset"):
        load_sample(wrong)


def test_capture_checkpoint_takes_a_name_a_path_or_a_checkpoint(ckpt_path):
    import torch

    from explainer import ExplainerError, capture_checkpoint, load_checkpoint

    image = torch.zeros(28, 28)
    by_object = capture_checkpoint(load_checkpoint(ckpt_path), image)
    by_path = capture_checkpoint(ckpt_path, image)
    by_text = capture_checkpoint(str(ckpt_path), image)
    assert by_path.checkpoint_hash == by_text.checkpoint_hash == by_object.checkpoint_hash
    assert (by_path.logits == by_object.logits).all()
    with pytest.raises(ExplainerError, match=r"capture_checkpoint\(ckpt=\.\.\.\) takes"):
        capture_checkpoint(torch.nn.Linear(2, 2), image)
