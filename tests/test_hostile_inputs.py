"""Hostile inputs, round two (issue 23): files a stranger hands us and faults a laptop has.

One test (or one parametrised family) per kind, each built from the generators here: pictures
in formats the program must not open, names that would rewrite the terminal or crash a render,
machine faults (missing or unreadable folders, FIFOs, full disks, Ctrl-C), and inputs that
would otherwise give a wrong answer without a word (Kaggle CSVs, sweep databases).
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import struct
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from explainer.cli import main
from explainer.nets.architectures import build
from explainer.nets.checkpoints import make_payload, save_checkpoint
from explainer.reading.images import RASTER_FORMATS, UnreadableImageError, open_image

ROOT = Path(__file__).resolve().parent.parent


def one_line(err: str) -> None:
    assert err.startswith("explainer: error: "), err
    assert err.count("\n") == 1 and "Traceback" not in err, err


# --- code run from a picture: only raster formats, told by content ---------------------------

SAVED_BY_PILLOW = {  # formats Pillow writes that the program must refuse, with the mode to use
    "EPS": "L", "PDF": "L", "ICO": "L", "SGI": "L", "XBM": "1", "IM": "L", "PCX": "L",
    "PPM": "L", "TGA": "L", "DDS": "RGB", "ICNS": "RGBA", "MSP": "1", "SPIDER": "F",
    "DIB": "L", "PALM": "1", "JPEG2000": "L", "AVIF": "RGB",
}  # fmt: skip


def _digit(mode: str) -> Image.Image:
    arr = np.zeros((28, 28), np.uint8)
    arr[6:22, 12:16] = 255  # a "1"
    return Image.fromarray(arr, "L").convert(mode)


def _saved(fmt: str) -> bytes:
    buf = io.BytesIO()
    _digit(SAVED_BY_PILLOW[fmt]).save(buf, format=fmt)
    return buf.getvalue()


def _psd() -> bytes:
    """A minimal grey Photoshop file, 4×4 (Pillow reads it; it cannot write PSD)."""
    head = b"8BPS" + struct.pack(">H6xHIIHH", 1, 1, 4, 4, 8, 1)
    return head + struct.pack(">III", 0, 0, 0) + struct.pack(">H", 0) + bytes(16)


def _cur() -> bytes:
    """A Windows cursor: an ICO with BMP entries whose type field says 2."""
    buf = io.BytesIO()
    _digit("RGBA").save(buf, format="ICO", sizes=[(16, 16)], bitmap_format="bmp")
    data = bytearray(buf.getvalue())
    data[2] = 2
    return bytes(data)


def _xpm() -> bytes:
    rows = ['"2 2 2 1"', '"  c #000000"', '". c #FFFFFF"', '" ."', '". "']
    return ("/* XPM */\nstatic char *d[] = {\n" + ",\n".join(rows) + "\n};\n").encode()


def _fits() -> bytes:
    cards = ["SIMPLE  =                    T", "BITPIX  =                    8",
             "NAXIS   =                    2", "NAXIS1  =                    2",
             "NAXIS2  =                    2", "END"]  # fmt: skip
    head = "".join(c.ljust(80) for c in cards).ljust(2880).encode()
    return head + bytes([0, 255, 255, 0]).ljust(2880, b"\0")


def refused_pictures() -> dict[str, bytes]:
    """Every format a stranger might hand us that is not a plain raster picture."""
    made = {fmt: _saved(fmt) for fmt in SAVED_BY_PILLOW}
    made |= {"PSD": _psd(), "CUR": _cur(), "XPM": _xpm(), "FITS": _fits()}
    return made


def _huge_png(side: int) -> bytes:
    buf = io.BytesIO()
    Image.new("1", (side, side)).save(buf, format="PNG")
    return buf.getvalue()


def _ico_holding(png: bytes) -> bytes:
    """An icon file whose one entry is ``png`` (as Windows Vista icons are)."""
    entry = struct.pack("<BBBBHHII", 0, 0, 0, 0, 1, 32, len(png), 6 + 16)
    return struct.pack("<HHH", 0, 1, 1) + entry + png


@pytest.fixture
def plugins_never_run(monkeypatch):
    """Every Pillow plugin outside the allow-list replaced by one that records being run."""
    ran: list[str] = []
    Image.init()
    for fmt, (_factory, accept) in list(Image.OPEN.items()):
        if fmt in RASTER_FORMATS:
            continue

        def spy(*args, _fmt=fmt, **kwargs):
            ran.append(_fmt)
            raise SyntaxError("plugin run")

        monkeypatch.setitem(Image.OPEN, fmt, (spy, accept))
    return ran


def test_pillow_itself_reads_the_generated_files():
    """The generators make real files of those formats (not junk that anything refuses)."""
    unreadable_by_pillow = {"PDF", "PALM"}  # Pillow writes these but has no reader for them
    for fmt, data in refused_pictures().items():
        if fmt in unreadable_by_pillow:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im = Image.open(io.BytesIO(data))
        assert im.format in (fmt, "CUR" if fmt == "CUR" else fmt), (fmt, im.format)


@pytest.mark.parametrize("fmt", sorted(refused_pictures()))
def test_other_formats_are_refused_by_content_without_running_a_plugin(
    fmt, tmp_path, plugins_never_run
):
    path = tmp_path / "digit.png"  # the name lies: the content decides
    path.write_bytes(refused_pictures()[fmt])
    for source in (path, path.read_bytes()):
        with pytest.raises(UnreadableImageError) as exc:
            open_image(source)
        msg = str(exc.value)
        assert "\n" not in msg and "use PNG, JPEG, BMP, WebP, GIF or TIFF" in msg, msg
    assert plugins_never_run == []


@pytest.mark.parametrize("fmt", RASTER_FORMATS)
def test_the_allowed_formats_still_open(fmt):
    buf = io.BytesIO()
    _digit("L" if fmt != "WEBP" else "RGB").save(buf, format=fmt)
    im = open_image(buf.getvalue())
    assert im.format in (fmt, "MPO") and im.size == (28, 28)


def test_an_icon_holding_a_huge_png_is_refused_without_a_library_warning(capfd):
    data = _ico_holding(_huge_png(8000))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning that escapes fails the test
        with pytest.raises(UnreadableImageError, match="an ICO file"):
            open_image(data)
    assert capfd.readouterr().err == ""


def test_decompression_bombs_stay_one_line(monkeypatch):
    from explainer.reading.images import ImageTooLargeError

    big = _huge_png(8000)  # 64 megapixels: above the program's own limit
    with pytest.raises(ImageTooLargeError, match="megapixels") as exc:
        open_image(big)
    assert "\n" not in str(exc.value)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # a library user's stricter limit
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ImageTooLargeError, match="too large") as exc:
            open_image(_huge_png(100))
    assert "\n" not in str(exc.value)


def test_the_command_line_refuses_a_postscript_digit(
    ckpt_path, tmp_path, capsys, plugins_never_run
):
    eps = tmp_path / "digit.png"
    eps.write_bytes(_saved("EPS"))
    rc = main(["predict", str(eps), "--model", str(ckpt_path), "--format", "csv"])
    out = capsys.readouterr().out
    assert rc == 1 and "an EPS file" in out and "Traceback" not in out, out
    rc = main(
        [
            "render",
            "forward",
            "--model",
            str(ckpt_path),
            "--image",
            str(eps),
            "--out",
            str(tmp_path / "f.gif"),
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "an EPS file" in err, err
    one_line(err)
    assert plugins_never_run == []


def test_the_app_uploader_refuses_a_postscript_digit(plugins_never_run):
    pytest.importorskip("streamlit")
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    at.session_state["model"] = "mnist_fast_cnn"
    at.run()
    at.radio(key="source").set_value("Upload a picture").run()
    up = next(u for u in at.get("file_uploader") if "photo or scan" in u.label)
    up.set_value(("digit.png", _saved("EPS"), "image/png")).run()
    assert not at.exception
    assert any("an EPS file" in w.value for w in at.warning), [w.value for w in at.warning]
    assert plugins_never_run == []
    # a name from the upload is shown as its characters, never as Markdown or HTML
    up = next(u for u in at.get("file_uploader") if "photo or scan" in u.label)
    up.set_value(("**x** <b>y</b>.png", bytes(9_000_000), "image/png")).run()  # too big
    assert any("\\*\\*x\\*\\* \\<b\\>y" in w.value for w in at.warning), at.warning


def test_pictures_are_opened_in_one_place():
    """No module but explainer/reading/images.py calls ``Image.open``: the CLI, the renders and
    the app's uploader all read pictures through :func:`open_image`."""
    callers = []
    for path in sorted((ROOT / "explainer").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "open"
                and isinstance(node.value, ast.Name)
                and node.value.id == "Image"
            ):
                callers.append(str(path.relative_to(ROOT)))
    assert callers == ["explainer/reading/images.py"], callers


# --- names and texts from files, shown safely -------------------------------------------------

CONTROL = "".join(map(chr, [*range(0x20), *range(0x7F, 0xA0)])) + "\u200b\u202e\u2028\u2066"


def hostile_names(rng: np.random.Generator, n: int = 40) -> list[str]:
    """Names mixing letters with ANSI sequences, control characters, bidi overrides and line
    breaks, 1 to 4,000 characters long."""
    parts = ["digit", "seven", "\x1b[2J", "\x1b[31m", "\x1b]0;owned\x07", "\r", "\n", "\b", "é"]
    names = []
    for _ in range(n):
        k = int(rng.integers(1, 12))
        name = "".join(rng.choice(parts) for _ in range(k)) + rng.choice(list(CONTROL))
        names.append(name * int(rng.choice([1, 1, 30, 400])))
    return names


def test_terminal_safe_leaves_no_control_character_and_can_be_read_back():
    import codecs
    import unicodedata

    from explainer.text import clip_text, terminal_safe

    for name in hostile_names(np.random.default_rng(0)):
        safe = terminal_safe(name)
        assert not any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in safe), safe
        if name.isascii():  # the escapes are Python's own: decoding them gives the name back
            assert codecs.decode(safe, "unicode_escape") == name
        clipped = clip_text(name, 50)
        assert len(clipped) <= 50 and "\n" not in clipped
        assert clipped == safe or clipped.endswith("…")
    raw = os.fsdecode(b"digit\xff\xfe.png")  # a file name that is not UTF-8
    assert terminal_safe(raw) == "digit\\xff\\xfe.png"
    assert terminal_safe(raw).encode("ascii")  # shown on any terminal


def test_markdown_safe_shows_the_characters_the_name_holds():
    """Rendered by a CommonMark implementation, the escaped name is its own text, never
    emphasis, links, headings or HTML."""
    import html

    markdown_it = pytest.importorskip("markdown_it")
    from explainer.text import clip_text, markdown_safe

    md = markdown_it.MarkdownIt("commonmark")
    names = ["**bold** <img src=x onerror=alert(1)>", "[a](http://x)", "# h", "1. item", "- x",
             "> q", "`code`", "<script>x</script>", "&amp;", "x\\*y", "---", "| a |"]  # fmt: skip
    for name in names + hostile_names(np.random.default_rng(1), 10):
        out = md.render(markdown_safe(name)).strip()
        assert out.startswith("<p>") and out.endswith("</p>"), out
        assert html.unescape(out[3:-4]) == clip_text(name, 200)


def _pictures_named(folder: Path, names: list[bytes]) -> None:
    folder.mkdir()
    for name in names:
        buf = io.BytesIO()
        _digit("L").save(buf, format="PNG")
        (folder / os.fsdecode(name)).write_bytes(buf.getvalue())


HOSTILE_FILES = [b"seven\x1b[2J\x1b[31m.png", b"two\nlines.png", b"caf\xe9-latin1.png",
                 b"\xff\xfe.png", b"ok\x07bell\rreturn.png"]  # fmt: skip


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_predict_shows_hostile_file_names_escaped(fmt, ckpt_path, tmp_path, capsys):
    _pictures_named(tmp_path / "in", HOSTILE_FILES)
    rc = main(["predict", str(tmp_path / "in"), "--model", str(ckpt_path), "--format", fmt])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    for text in (captured.out, captured.err):
        assert not any(c in text for c in CONTROL.replace("\n", "")), text
    shown = captured.out
    if fmt == "json":
        shown = "\n".join(row["file"] for row in json.loads(shown))
    assert "\\x1b[2J" in shown and "\\xff\\xfe.png" in shown
    rows = shown.strip().splitlines()
    assert all("two\\nlines.png" in r for r in rows if "lines.png" in r), rows  # no fake line
    out = tmp_path / f"out.{fmt}"
    rc = main(["predict", str(tmp_path / "in"), "--model", str(ckpt_path), "--format", fmt,
               "--out", str(out)])  # fmt: skip
    capsys.readouterr()
    assert rc == 0 and "\\xff\\xfe.png" in out.read_text(encoding="utf-8").replace("\\\\", "\\")


def test_a_strict_ascii_stdout_does_not_crash(ckpt_path, tmp_path):
    _pictures_named(tmp_path / "in", HOSTILE_FILES)
    env = {**os.environ, "PYTHONIOENCODING": "ascii:strict", "LC_ALL": "C"}
    cmd = [sys.executable, "-m", "explainer", "predict", str(tmp_path / "in"),
           "--model", str(ckpt_path), "--format", "csv"]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    assert res.stdout.isascii() and b"\x1b" not in res.stdout and b"Traceback" not in res.stderr
    assert b"caf\\xe9-latin1.png" in res.stdout


def test_error_messages_quoting_a_file_stay_one_escaped_line(tmp_path, capsys):
    name = tmp_path / "evil\x1b]0;owned\x07\nexplainer: all good.pt"
    name.write_bytes(b"not a checkpoint")
    rc = main(["predict", str(tmp_path), "--model", str(name)])
    err = capsys.readouterr().err
    assert rc == 2
    one_line(err)
    assert "\x1b" not in err and "\x07" not in err and "\\x1b]0;owned\\x07\\n" in err


def test_fitting_a_huge_name_is_quick_and_fits():
    import time

    from explainer.animate.canvas import fit_text, text_width

    for name in [*hostile_names(np.random.default_rng(2), 8), "x" * 4000, "a\nb" * 1500]:
        t0 = time.perf_counter()
        text, pt = fit_text(name, 10, 300)
        assert time.perf_counter() - t0 < 1.0
        assert pt > 0 and text_width(text, pt) <= 300 and "\n" not in text


def test_renders_draw_long_and_multi_line_names(tmp_path, capsys):
    torch.manual_seed(0)
    names = [f"digit {i}\n" + "\x1b[31m" + "x" * 4000 for i in range(10)]
    path = tmp_path / "two\nlines\x1b[2J.pt"
    save_checkpoint(path, make_payload(build("tinyvgg"), dataset="mnist", class_names=names))
    for kind in ("forward", "convolution"):
        out = tmp_path / f"{kind}.png"
        rc = main(["render", kind, "--model", str(path), "--digit", "3", "--out", str(out)])
        captured = capsys.readouterr()
        assert rc == 0, captured.err
        assert Image.open(out).size == (1280, 720)  # the class preset
        assert "\x1b" not in captured.out + captured.err


# --- faults of the machine ---------------------------------------------------------------------


@pytest.fixture
def alarm():
    """Whatever blocks (a FIFO opened for reading) fails the test after 30 s instead of hanging."""
    import signal

    def ring(*_):
        raise AssertionError("blocked: something opened a FIFO and waited for a writer")

    old = signal.signal(signal.SIGALRM, ring)
    signal.alarm(30)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def _fifo(folder: Path, name: str) -> Path:
    path = folder / name
    os.mkfifo(path)
    return path


def _cli_one_line(capsys, argv: list[str], code: int = 2) -> str:
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert rc == code, (argv, rc, err)
    one_line(err)
    return err


def test_a_fifo_given_as_an_input_is_named_and_never_read(ckpt_path, tmp_path, capsys, alarm):
    fifo = {s: _fifo(tmp_path, f"in{s}") for s in (".png", ".pt", ".npz", ".csv", ".py")}
    cases = [
        ["predict", fifo[".png"], "--model", ckpt_path],
        ["render", "forward", "--model", ckpt_path, "--image", fifo[".png"], "--out",
         tmp_path / "o.gif"],
        ["capture", fifo[".pt"], "--digit", "3"],
        ["capture", "--show", fifo[".npz"]],
        ["render", "forward", "--trace", fifo[".npz"], "--out", tmp_path / "o.gif"],
        ["predict", "--kaggle", fifo[".csv"], "--model", ckpt_path, "--out", tmp_path / "s.csv"],
        ["train", "--code", f"{fifo['.py']}:Net", "--out", tmp_path / "m.pt"],
    ]  # fmt: skip
    for argv in cases:
        err = _cli_one_line(capsys, argv, 1 if argv[1] == fifo[".png"] else 2)
        assert "FIFO" in err and "not a regular file" in err, (argv, err)
    assert not (tmp_path / "o.gif").exists() and not (tmp_path / "m.pt").exists()


def test_names_longer_than_the_system_allows_are_one_line(ckpt_path, tmp_path, capsys):
    long = tmp_path / ("n" * 300)
    cases = [
        ["predict", f"{long}.png", "--model", ckpt_path],
        ["capture", ckpt_path, "--digit", "3", "--out", f"{long}.npz"],
        ["render", "forward", "--model", ckpt_path, "--digit", "3", "--out", f"{long}.png"],
        ["capture", f"{long}.pt", "--digit", "3"],
        ["capture", "--show", f"{long}.npz"],
    ]
    for argv in cases:
        rc = main([str(a) for a in argv])
        err = capsys.readouterr().err
        assert rc in (1, 2), (argv, rc, err)
        one_line(err.splitlines()[-1] + "\n")
        assert "longer than the system allows" in err, (argv, err)


@pytest.mark.parametrize("problem", ["missing", "file"])
def test_a_models_dir_variable_that_is_no_folder_is_named(problem, tmp_path, capsys, monkeypatch):
    target = tmp_path / "models"
    if problem == "file":
        target.write_text("not a folder")
    monkeypatch.setenv("EXPLAINER_MODELS_DIR", str(target))
    err = _cli_one_line(capsys, ["capture", "mnist_bn_cnn", "--digit", "3"])
    assert "EXPLAINER_MODELS_DIR=" in err and str(target) in err, err


def test_an_unreadable_models_dir_is_named(tmp_path, capsys, monkeypatch):
    target = tmp_path / "models"
    target.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, m: False if Path(p) == target else real(p, m))
    monkeypatch.setenv("EXPLAINER_MODELS_DIR", str(target))
    err = _cli_one_line(capsys, ["capture", "mnist_bn_cnn", "--digit", "3"])
    assert "EXPLAINER_MODELS_DIR=" in err and "permission denied" in err, err


def test_a_folder_of_blank_files_says_what_happened(ckpt_path, tmp_path, capsys):
    folder = tmp_path / "blank"
    folder.mkdir()
    for i in range(3000):
        (folder / f"{i}.png").touch()
    rc = main(["predict", str(folder), "--model", str(ckpt_path), "--format", "csv"])
    captured = capsys.readouterr()
    assert rc == 1
    one_line(captured.err)
    assert "3000" in captured.err and "empty" in captured.err, captured.err
    assert len(captured.out.splitlines()) == 3001  # the CSV still lists every file


def test_ctrl_c_during_start_up_is_quiet(monkeypatch, capsys):
    import explainer.cli

    def interrupted(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(explainer.cli, "build_parser", interrupted)
    assert main(["predict", "x.png"]) == 130
    assert capsys.readouterr().err == "explainer: interrupted\n"


@pytest.mark.parametrize("delay", [0.15, 0.4, 0.8])
def test_ctrl_c_in_a_real_start_up_gives_no_traceback(delay, ckpt_path, tmp_path):
    import signal
    import time

    _pictures_named(tmp_path / "in", [b"a.png"])
    cmd = [sys.executable, "-m", "explainer", "predict", str(tmp_path / "in"),
           "--model", str(ckpt_path)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=120)
    assert b"Traceback" not in err and b"KeyboardInterrupt" not in err, err.decode()
    assert proc.returncode in (0, 130, -signal.SIGINT), (proc.returncode, err)


def test_a_ctrl_c_python_cannot_raise_in_a_callback_still_reaches_the_command():
    """A Ctrl-C landing in a weakref or import-lock callback is "ignored" by Python (a
    traceback on stderr, then the program runs on); it must arrive again in the main thread."""
    code = (
        "import time, weakref\n"
        "from explainer.interrupts import deliver_interrupts_to_main\n"
        "deliver_interrupts_to_main()\n"
        "class A: pass\n"
        "def cb(_r): raise KeyboardInterrupt\n"
        "a = A(); r = weakref.ref(a, cb)\n"
        "try:\n"
        "    del a\n"
        "    for _ in range(200): time.sleep(0.01)\n"
        "    print('lost')\n"
        "except KeyboardInterrupt:\n"
        "    print('caught')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert done.stdout.decode().strip() == "caught", done.stdout
    assert b"Traceback" not in done.stderr, done.stderr.decode()


@pytest.mark.parametrize("as_command", [True, False])
def test_ctrl_c_while_the_command_imports_the_package_ends_it_quietly(as_command):
    """From the package's first line to the command's start a Ctrl-C ends `explainer` at
    once with one line and status 130; a program that only imports the library keeps Python's
    own KeyboardInterrupt."""
    argv = "[sys.executable, '-m', 'explainer']" if as_command else "[sys.executable, 'x.py']"
    code = (
        f"import os, signal, sys, time\nsys.orig_argv = {argv}\nimport explainer\n"
        "os.kill(os.getpid(), signal.SIGINT)\ntime.sleep(5)\nprint('ran on')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    if as_command:
        said = (done.returncode, done.stderr, done.stdout)
        assert said == (130, b"explainer: interrupted\n", b""), said
    else:
        assert done.returncode == -2 and b"KeyboardInterrupt" in done.stderr, done.stderr  # SIGINT


@pytest.mark.parametrize("call", ["sys.exit()", "sys.exit(0)", "sys.exit(3)", "exit('bye')"])
def test_user_code_that_exits_at_import_is_refused(call, tmp_path, capsys):
    from explainer.nets.user_code import UserCodeError, import_class

    path = tmp_path / "net.py"
    path.write_text(f"import sys\n{call}\nclass Net: pass\n")
    with pytest.raises(UserCodeError, match=r"calls sys\.exit") as exc:
        import_class(f"{path}:Net")
    assert "net.py" in str(exc.value) and "\n" not in str(exc.value)
    err = _cli_one_line(capsys, ["train", "--code", f"{path}:Net", "--out", tmp_path / "m.pt"])
    assert "calls sys.exit" in err
    assert not (tmp_path / "m.pt").exists()


@pytest.fixture
def full_disk(tmp_path):
    """A 64 kB tmpfs (root only); without mount rights the test is skipped."""
    where = tmp_path / "full"
    where.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)],
                         capture_output=True)  # fmt: skip
    if res.returncode:
        pytest.skip(f"cannot mount a small tmpfs here: {res.stderr.decode().strip()}")
    with contextlib.suppress(OSError), open(where / ".filler", "wb") as fh:
        while True:  # every free block taken
            fh.write(bytes(4096))
            fh.flush()
    yield where
    subprocess.run(["umount", str(where)], check=False)


def kaggle_csv(path: Path, rows: list[list], header: bool = True) -> Path:
    """A Kaggle ``test.csv``: ``pixel0..pixel783`` and one row of values per digit."""
    lines = [",".join(f"pixel{i}" for i in range(784))] if header else []
    lines += [",".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_full_disk_is_one_line_and_leaves_no_temp_file(ckpt_path, full_disk, tmp_path, capsys):
    from explainer.io import OutputError

    csv = kaggle_csv(tmp_path / "test.csv", [[0] * 784] * 3)
    before = sorted(full_disk.iterdir())
    cases = [
        ["capture", ckpt_path, "--digit", "3", "--out", full_disk / "t.npz"],
        ["render", "forward", "--model", ckpt_path, "--digit", "3", "--out", full_disk / "f.gif"],
        ["predict", "--kaggle", csv, "--model", ckpt_path, "--out", full_disk / "s.csv"],
    ]  # fmt: skip
    for argv in cases:
        err = _cli_one_line(capsys, argv)
        assert "no space left" in err, (argv, err)
        assert sorted(full_disk.iterdir()) == before, list(full_disk.iterdir())
    err = _cli_one_line(capsys, ["evaluate", ckpt_path, "--sample", "--out", full_disk / "rep"])
    assert "no space left" in err  # the files written before the disk filled are whole
    assert not [p for p in full_disk.rglob("*") if ".tmp" in p.name], list(full_disk.rglob("*"))
    with pytest.raises(OutputError, match="no space left"):  # torch's own writer
        save_checkpoint(full_disk / "m.pt", make_payload(build("mlp"), dataset="mnist"))
    assert [p for p in sorted(full_disk.iterdir()) if p.name != "rep"] == before


def test_a_write_failing_with_enospc_is_one_line(tmp_path):
    import errno

    from explainer.io import OutputError, atomic_write

    with (
        pytest.raises(OutputError, match="no space left") as exc,
        atomic_write(tmp_path / "x.bin") as tmp,
    ):
        tmp.write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert "\n" not in str(exc.value) and list(tmp_path.iterdir()) == []


# --- wrong answers without a word ---------------------------------------------------------------


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "-1", "256", "1e9", "-0.5"])
def test_kaggle_rows_holding_no_pixel_value_are_refused_with_the_row(
    value, ckpt_path, tmp_path, capsys
):
    rng = np.random.default_rng(0)
    rows = [list(rng.integers(0, 256, 784)) for _ in range(5)]
    row, col = int(rng.integers(5)), int(rng.integers(784))
    rows[row][col] = value
    csv = kaggle_csv(tmp_path / "test.csv", rows)
    out = tmp_path / "submission.csv"
    argv = ["predict", "--kaggle", csv, "--model", ckpt_path, "--out", out]
    err = _cli_one_line(capsys, argv)
    assert f"row {row + 1} (line {row + 2}), pixel{col}" in err, err
    assert not out.exists()


def test_kaggle_values_in_range_are_read_exactly(tmp_path):
    from explainer.reading.predict import read_kaggle_csv

    rng = np.random.default_rng(1)
    rows = rng.integers(0, 256, (4, 784))
    got = read_kaggle_csv(kaggle_csv(tmp_path / "t.csv", rows.tolist()))
    np.testing.assert_allclose(got, rows.reshape(4, 28, 28) / 255.0, rtol=1e-6)


@pytest.mark.parametrize("kind", ["png", "zeros", "random", "utf16", "gzip"])
def test_a_binary_file_given_as_kaggle_is_one_line(kind, ckpt_path, tmp_path, capsys):
    import gzip

    text = kaggle_csv(tmp_path / "t.csv", [[0] * 784]).read_text()
    data = {
        "png": _saved_png(),
        "zeros": bytes(4096),
        "random": np.random.default_rng(2).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "utf16": text.encode("utf-16"),
        "gzip": gzip.compress(text.encode()),
    }[kind]
    bad = tmp_path / "test.csv"
    bad.write_bytes(data)
    err = _cli_one_line(capsys, ["predict", "--kaggle", bad, "--model", ckpt_path, "--out",
                                 tmp_path / "s.csv"])  # fmt: skip
    assert "test.csv" in err


def _saved_png() -> bytes:
    buf = io.BytesIO()
    _digit("L").save(buf, format="PNG")
    return buf.getvalue()


def _corrupt_databases(folder: Path) -> dict[str, Path]:
    """Files where a sweep's SQLite database should be: junk, a truncated database, a
    database of another program, zeros."""
    import sqlite3

    made = {"junk": b"this is not a database " * 200, "zeros": bytes(8192)}
    paths = {k: folder / f"{k}.db" for k in made}
    for k, v in made.items():
        paths[k].write_bytes(v)
    other = folder / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE studies (x TEXT)")  # Optuna's table name, another schema
        db.execute("INSERT INTO studies VALUES ('x')")
    db.close()
    paths["other"] = other
    good = folder / "good.db"
    with sqlite3.connect(good) as db:
        db.execute("CREATE TABLE t (x BLOB)")
        db.execute("INSERT INTO t VALUES (?)", (bytes(20000),))
    db.close()
    (folder / "truncated.db").write_bytes(good.read_bytes()[:1500])
    paths["truncated"] = folder / "truncated.db"
    return paths


def test_a_corrupt_sweep_database_is_one_line(tmp_path):
    pytest.importorskip("optuna")
    from explainer.errors import ExplainerError
    from explainer.nets.sweep import SweepConfig, make_study

    for kind, path in _corrupt_databases(tmp_path).items():
        c = SweepConfig(out=str(tmp_path / "out"), study="s", storage=f"sqlite:///{path}")
        try:
            make_study(c)
        except ExplainerError as exc:
            msg = str(exc)
            assert "\n" not in msg and "SQL" not in msg.replace("sqlite", ""), (kind, msg)
            assert str(path) in msg and len(msg) < 400, (kind, msg)
        else:  # SQLite may repair what it can read: then the study must work
            assert kind in ("truncated", "zeros"), kind


def test_a_storage_password_is_never_printed(tmp_path, capsys):
    pytest.importorskip("optuna")
    from explainer.nets.sweep import masked_url

    secret = "pa55-w0rd"
    url = f"postgresql://alice:{secret}@127.0.0.1:1/sweeps"
    assert masked_url(url) == "postgresql://alice:***@127.0.0.1:1/sweeps"
    assert masked_url("sqlite:///reports/a.db") == "sqlite:///reports/a.db"
    argv = ["sweep", "--storage", url, "--out", tmp_path / "out"]
    rc = main([str(a) for a in argv])
    captured = capsys.readouterr()
    assert rc == 2, captured
    one_line(captured.err)
    assert secret not in captured.out + captured.err and "alice:***@" in captured.err


def test_manim_labels_of_long_and_multi_line_names_are_one_bounded_line():
    pytest.importorskip("manim")
    from explainer.scenes.mobjects import MAX_LABEL_CHARS, Label

    short = Label("seven")
    for name in [
        "x" * 4000,
        "two\nlines\x1b[2J",
        "a\nb" * 1500,
        *hostile_names(np.random.default_rng(3), 5),
    ]:
        lab = Label(name)
        assert len(lab.text) <= MAX_LABEL_CHARS and "\n" not in lab.text
        assert lab.pixel_array.shape[0] == short.pixel_array.shape[0]  # one line high


@pytest.mark.parametrize("problem", ["file", "unreadable"])
def test_a_data_dir_that_is_no_usable_folder_is_named(
    problem, ckpt_path, tmp_path, capsys, monkeypatch
):
    target = tmp_path / "data"
    if problem == "file":
        target.write_text("not a folder")
    else:
        target.mkdir()
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, m: False if Path(p) == target else real(p, m))
    monkeypatch.setenv("EXPLAINER_DATA_DIR", str(target))
    err = _cli_one_line(capsys, ["capture", ckpt_path, "--index", "5"])
    assert f"EXPLAINER_DATA_DIR={target}" in err, err
    err = _cli_one_line(capsys, ["capture", ckpt_path, "--index", "5", "--data-dir", target])
    assert f"data folder {target}" in err, err
