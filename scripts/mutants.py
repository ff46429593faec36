"""Break the code on purpose, one mutant at a time, and check that a test goes red.

Each mutant is an exact text replacement in one file plus the tests that should catch it.
The file is restored after each run (also on Ctrl-C). A mutant whose text is no longer in
its file is reported as "stale": update it here when the code moves. Exit status 1 when a
mutant survives or is stale, so `make mutants` fails loudly.

    python scripts/mutants.py            # all of them
    python scripts/mutants.py conv       # only those whose name contains "conv"
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


GRAPH = ("tests/test_graph.py", "tests/test_capture.py")
ARITH = ("tests/test_arith.py",)
CONV_VIEWS = ("tests/test_conv_views.py", "tests/test_animate.py")
TRAIN = ("tests/test_train.py",)
CKPT = ("tests/test_checkpoints.py",)
CACHE = ("tests/test_cache.py",)
ATTRIBUTION = ("tests/test_attribution.py",)
PREPROCESS = ("tests/test_preprocess.py",)
API = ("tests/test_api.py",)
ONE_PROBABILITY = ("tests/test_one_probability.py",)
CLASSROOM = ("tests/test_classroom_gifs.py",)
NOT_A_DIGIT = ("tests/test_not_a_digit.py",)

MUTANTS = [
    # --- capture and the trace -------------------------------------------------------------
    Mutant("padding recorded from stride", "explainer/tracing/layers.py",
           "padding = m.padding if isinstance(m.padding, str) else _pair(m.padding)",
           "padding = m.padding if isinstance(m.padding, str) else _pair(m.stride)", GRAPH),
    Mutant("dilation not recorded", "explainer/tracing/layers.py",
           '"dilation": _pair(m.dilation),\n        "groups"',
           '"dilation": [1, 1],\n        "groups"', GRAPH + ARITH),
    Mutant("inputs: previous record instead of the real one", "explainer/tracing/recorder.py",
           'inputs = [self.names.get(id(a), "?") for a in args if isinstance(a, torch.Tensor)]',
           "inputs = [self.events[-1].name if self.events else INPUT]", GRAPH),
    Mutant("function calls not recorded", "explainer/tracing/recorder.py",
           "self.recorder.on_call(func, args, kwargs, out)", "pass", GRAPH),
    Mutant("in-place changes not detected", "explainer/tracing/capture.py",
           "if clone is True or not changed:", "if True:", GRAPH),
    Mutant("call arguments: refs dropped", "explainer/tracing/calls.py",
           '                self.refs.append(name)\n                return {"ref": name}',
           '                return {"ref": name}', GRAPH),
    Mutant("batch-norm statistics not stored", "explainer/tracing/layers.py",
           'keys |= {"running_mean": "running_mean", "running_var": "running_var"}',
           "keys |= {}", GRAPH + ARITH),
    Mutant("trace inputs not saved", "explainer/tracing/trace.py",
           '"inputs": list(r.inputs),', '"inputs": [],', ("tests/test_graph.py",)),
    Mutant("pool stride defaults to 1", "explainer/tracing/calls.py",
           'found["stride"] = found["kernel_size"]', 'found["stride"] = [1, 1]', GRAPH),
    Mutant("a block's own calls do not make it a block", "explainer/tracing/blocks.py",
           "return any(key is None for key, _ in runs) or all(",
           "return all(", ("tests/test_blocks.py",)),
    Mutant("a small container opened to its parts", "explainer/tracing/blocks.py",
           "elif len(rs) <= LONGEST_BLOCK:", "elif False:", ("tests/test_blocks.py",)),
    Mutant("a long block with calls of its own cut", "explainer/tracing/blocks.py",
           "if len(records) <= LONGEST_BLOCK or own:", "if len(records) <= LONGEST_BLOCK:",
           ("tests/test_blocks.py",)),
    Mutant("a block reads the first outside record, not the one before it",
           "explainer/tracing/blocks.py",
           "source = previous if previous in outside else next(iter(outside), \"input\")",
           "source = next(iter(outside), \"input\")", ("tests/test_blocks.py",)),
    Mutant("forward never by blocks", "explainer/tracing/blocks.py",
           "    if not (_by_default(trace) if by_blocks is None else by_blocks):",
           "    if not (False if by_blocks is None else by_blocks):",
           ("tests/test_real_views.py", "tests/test_blocks.py")),
    Mutant("data flow drops a block's skip", "explainer/animate/dataflow_blocks.py",
           "    if b.skip is None:\n        return b.name", "    if True:\n        return b.name",
           ("tests/test_real_views.py",)),
    Mutant("data flow leaves labels under its arrows", "explainer/animate/dataflow_labels.py",
           "tuple[list[Area], list[Area]]:\n",
           "tuple[list[Area], list[Area]]:\n    return [], []\n", ("tests/test_real_views.py",)),
    Mutant("forward block steps in small type", "explainer/animate/forward_blocks.py",
           "STEP_PT = 8.0", "STEP_PT = 6.0", ("tests/test_classroom_gifs.py",)),
    Mutant("tuple elements not recorded", "explainer/tracing/recorder.py",
           "            self._add_elements(base, kind, params, inputs, out, tensors=tensors)\n",
           "", GRAPH),
    Mutant("norm axes ignored in replay", "explainer/tracing/recompute.py",
           'axes = p.get("axes") or range(-len(p["normalized_shape"]), 0)',
           "axes = range(1, x.dim())", GRAPH),
    # --- the arithmetic --------------------------------------------------------------------
    Mutant("conv view takes the wrong kernel slice", "explainer/analysis/arith/conv.py",
           "kernel = rec.weight[channel].astype(np.float64)",
           "kernel = rec.weight[0].astype(np.float64)", ARITH + CONV_VIEWS),
    Mutant("conv window ignores padding", "explainer/analysis/arith/verify.py",
           "return [pos * stride - pad + i * dilation", "return [pos * stride + i * dilation",
           ARITH),
    Mutant("conv sum misses the bias", "explainer/analysis/arith/conv.py",
           "return self.total + self.bias", "return self.total", ARITH),
    Mutant("no check against the network", "explainer/analysis/arith/verify.py",
           "if not math.isfinite(value) or abs(value - captured) > tol:", "if False:",
           ARITH + CONV_VIEWS),
    Mutant("pooling off the network's grid", "explainer/analysis/arith/pooling.py",
           "rows = window_span(y, sy, py, 1, kh)", "rows = window_span(y, sy, py - 1, 1, kh)",
           ARITH),
    Mutant("minus sign lost", "explainer/analysis/arith/rounding.py",
           "return MINUS + text[1:]", "return text[1:]", ARITH),
    Mutant("path skips batch norm", "explainer/analysis/arith/path.py",
           'nxt[0].kind not in ("bn", "relu", "pool", "dropout")',
           'nxt[0].kind not in ("relu", "pool", "dropout")', ARITH),
    Mutant("block not on the pooling grid", "explainer/analysis/arith/path.py",
           "step = int(pool.params[\"stride\"][0])", "step = 1", ARITH),
    # --- training and checkpoints ------------------------------------------------------------
    Mutant("loading ignores the architecture's arguments", "explainer/nets/checkpoints.py",
           "return (lambda: build(arch, mean=mean, std=std, **kwargs)), False",
           "return (lambda: build(arch, mean=mean, std=std)), False", CKPT),
    Mutant("loading ignores a user class's arguments", "explainer/nets/user_code.py",
           "model = cls(**kwargs)", "model = cls()", ("tests/test_user_models.py",)),
    Mutant("resume starts the best state from the last state", "explainer/nets/train_run.py",
           'self.best_state = state["best_state_dict"]',
           "self.best_state = _cpu_copy(self.model.state_dict())", TRAIN),
    Mutant("early stopping disabled", "explainer/nets/train_run.py",
           "if c.patience and epoch - hist.best_epoch >= c.patience:", "if False:", TRAIN),
    Mutant("plateau schedule watches accuracy as if it were a loss", "explainer/nets/train.py",
           'opt, mode="max", factor=c.gamma, patience=1',
           'opt, mode="min", factor=c.gamma, patience=1', TRAIN),
    Mutant("plateau schedule steps on the loss", "explainer/nets/train_run.py",
           'self.sched.step(record["val_accuracy"])', 'self.sched.step(record["val_loss"])',
           TRAIN),
    # --- group norm and a record's own output ------------------------------------------------
    Mutant("group norm replayed as one group", "explainer/tracing/recompute.py",
           'return F.group_norm(x, p["num_groups"], w, b, p["eps"])',
           'return F.group_norm(x, 1, w, b, p["eps"])', GRAPH),
    Mutant("group norm replayed with the default eps", "explainer/tracing/recompute.py",
           'return F.group_norm(x, p["num_groups"], w, b, p["eps"])',
           'return F.group_norm(x, p["num_groups"], w, b, 1e-5)', GRAPH),
    Mutant("group norm's groups not recorded", "explainer/tracing/layers.py",
           '"num_groups": int(m.num_groups),', '"num_groups": int(m.num_channels),', GRAPH),
    Mutant("norm eps not recorded", "explainer/tracing/layers.py",
           "float(m.eps)", "1e-5", GRAPH),
    Mutant("an in-place module lists itself as its input", "explainer/tracing/recorder.py",
           'inputs = [self.names.get(id(a), "?") for a in args',
           'inputs = [path if a is output else self.names.get(id(a), "?") for a in args', GRAPH),
    Mutant("a trace may list a record as its own input", "explainer/tracing/checks.py",
           "if position.get(n, -1) >= i:", "if position.get(n, -1) > i:", GRAPH),
    # --- reading pictures ------------------------------------------------------------------
    Mutant("a pen dot far from the digit is kept", "explainer/reading/cleaning.py",
           "keep = _drop_far_dots(labels, keep, sizes)", "keep = keep", PREPROCESS),
    Mutant("specks are kept", "explainer/reading/cleaning.py",
           "big = sizes >= max(0.05 * sizes.max(), 2)", "big = sizes >= 2", PREPROCESS),
    Mutant("digits scaled into 13 px, not 20 (2 points worse)", "explainer/reading/preprocess.py",
           'scaled = fit_box(stroked, FIELD if "scaled" in off else BOX)',
           'scaled = fit_box(stroked, FIELD if "scaled" in off else BOX - 7)',
           ("tests/test_drawings.py",)),
    # --- attribution, against captum ---------------------------------------------------------
    Mutant("grad-cam weights summed, not averaged", "explainer/analysis/attribution.py",
           "weights = grads.mean(dim=(2, 3), keepdim=True)",
           "weights = grads.sum(dim=(2, 3), keepdim=True)", ATTRIBUTION),
    Mutant("grad-cam keeps negative evidence", "explainer/analysis/attribution.py",
           "cams.append(torch.relu((weights * acts).sum(1))[0].detach())",
           "cams.append((weights * acts).sum(1)[0].detach())", ATTRIBUTION),
    Mutant("grad-cam scaled up with aligned corners", "explainer/analysis/attribution.py",
           'mode="bilinear", align_corners=False', 'mode="bilinear", align_corners=True',
           ATTRIBUTION),
    Mutant("grad-cam default: the last candidate, whatever its map size",
           "explainer/analysis/cam_layer.py",
           "fine = [r for r in found if min(r.shape[-2:]) >= MIN_CAM_SIDE]",
           "fine = found", ATTRIBUTION),
    Mutant("grad-cam default: one branch of a block", "explainer/analysis/cam_layer.py",
           "whole = [r for r in fine if r.name in cuts]", "whole = fine", ATTRIBUTION),
    Mutant("grad-cam default: before the block's add and ReLU", "explainer/analysis/cam_layer.py",
           "        elif conv_sizes and _is_merge(first, names, conv_sizes):",
           "        elif False:", ATTRIBUTION),
    Mutant("grad-cam: no warning on a map smaller than 4x4", "explainer/analysis/cam_layer.py",
           "    if min(h, w) >= MIN_CAM_SIDE:\n        return \"\"",
           "    if True:\n        return \"\"", ATTRIBUTION),
    Mutant("manim: a merge holding negatives drawn with the \"≥ 0\" map",
           "explainer/scenes/mobjects.py",
           "top_channels(values, max_maps)\n        self.value_scale = scale or layer_scale(",
           "top_channels(values, max_maps)\n        self.value_scale = scale or scale_for(",
           ("tests/test_mobjects.py",)),
    Mutant("manim data flow: a normalised digit drawn with the \"≥ 0\" map",
           "explainer/scenes/data_flow.py",
           "        scale = layer_scale(values, kind)",
           '        scale = __import__("explainer.style").style.scale_for(values, kind)',
           ("tests/test_scenes.py",)),
    Mutant("snapshots looked for only in models/snapshots", "explainer/analysis/snapshots.py",
           'folders = [path.parent / "snapshots"] if path is not None else []',
           "folders = []", ("tests/test_train_cli.py",)),
    Mutant("saliency keeps the gradient's sign", "explainer/analysis/attribution.py",
           "            grad = grad.abs()\n", "            grad = grad.clamp_min(0)\n",
           ATTRIBUTION),
    # --- the results cache ---------------------------------------------------------------
    Mutant("code version sees only its own folder", "explainer/analysis/cache.py",
           "root = Path(__file__).resolve().parents[1]", "root = Path(__file__).resolve().parent",
           CACHE),
    Mutant("code version ignores the files' contents", "explainer/analysis/cache.py",
           "            h.update(path.read_bytes())", "            pass", CACHE),
    Mutant("cache key without the code version", "explainer/analysis/cache.py",
           "code: str = field(default_factory=code_version)", 'code: str = ""', CACHE),
    Mutant("memo trusts a reused address", "explainer/analysis/cache.py",
           "if hit is not None and hit[0]() is obj and hit[2] == str(dtype):",
           "if hit is not None and hit[2] == str(dtype):", CACHE),
    Mutant("memo keeps the hash of a changed array", "explainer/analysis/cache.py",
           "    if not _frozen(obj):\n        return digest\n", "", CACHE),
    Mutant("the plan holds its model strongly", "explainer/tracing/layers.py",
           "submodules={n: m for n, m in pairs if m is not model},", "submodules=dict(pairs),",
           ("tests/test_capture.py",)),
    # --- the house: the 0.1 paths ----------------------------------------------------------
    Mutant("old path warning blames the import machinery", "explainer/_moved.py",
           "stacklevel=2,", "stacklevel=1,", API),
    Mutant("old path searches only the first new home", "explainer/_moved.py",
           "for target in MOVED[old]:", "for target in MOVED[old][:1]:", API),
    Mutant("a rename of the move forgotten", "explainer/_moved.py",
           'new_name = RENAMED.get((old, name), name)', "new_name = name", API),
    # --- one probability ---------------------------------------------------------------------
    Mutant("trace probabilities ignore the temperature", "explainer/tracing/trace.py",
           "return softmax_t(self.logits, self.temperature)",
           "return softmax_t(self.logits, 1.0)", ONE_PROBABILITY),
    Mutant("capture_checkpoint drops the temperature", "explainer/tracing/capture.py",
           'temperature=temperature_of(getattr(ckpt, "raw", None) or {}),', "temperature=1.0,",
           ONE_PROBABILITY),
    Mutant("evaluation probabilities uncalibrated", "explainer/analysis/evaluate.py",
           "return softmax_t(self.logits, self.temperature)",
           "return softmax_t(self.logits, 1.0)", ONE_PROBABILITY),
    Mutant("softmax arithmetic without the temperature", "explainer/analysis/arith/dense.py",
           "s = z / float(trace.temperature)", "s = z", ARITH),
    Mutant("the Draw page's own softmax", "explainer/app/draw.py",
           "probs = trace.probs  #",
           'probs = __import__("explainer.nets.calibration").nets.calibration.softmax_t('
           "trace.logits)  #", ONE_PROBABILITY),
    Mutant("the evaluation report switches a notebook's backend", "explainer/analysis/report.py",
           "    from sklearn.metrics import classification_report\n",
           "    from sklearn.metrics import classification_report\n\n"
           '    __import__("matplotlib").use("Agg")\n',
           ("tests/test_evaluate.py",)),
    Mutant("a diverged fresh run leaves its files", "explainer/nets/train_run.py",
           "if hist.diverged and not self.trained:", "if False:", TRAIN),
    Mutant("thicker pen ignores the share", "explainer/nets/augment.py",
           "chosen = ((pick < share) & (width == i))", "chosen = (width == i)",
           ("tests/test_augment.py",)),
    Mutant("training never thickens", "explainer/nets/train.py",
           "xb = thicken(xb, c.thicken, generator=gen)", "xb = thicken(xb, 0.0, generator=gen)",
           ("tests/test_augment.py",)),
    # --- not a digit and calibration ---------------------------------------------------------
    Mutant("not-a-digit threshold fitted at the wrong end", "explainer/nets/not_a_digit.py",
           "thr = float(np.quantile(s, quantile))", "thr = float(np.quantile(s, 1 - quantile))",
           NOT_A_DIGIT),
    Mutant("detector flags the low scores", "explainer/nets/not_a_digit.py",
           "return self.scores(images, logits) > self.threshold",
           "return self.scores(images, logits) < self.threshold", NOT_A_DIGIT),
    Mutant("detector score subtracts the energy", "explainer/nets/not_a_digit.py",
           "s = s + self.energy_weight * energy(logits).astype",
           "s = s - self.energy_weight * energy(logits).astype", NOT_A_DIGIT),
    Mutant("ink share: lower bound ignored", "explainer/nets/ood.py",
           "elif not self.ink_range[0] <= si <= self.ink_range[1]:",
           "elif si > self.ink_range[1]:", NOT_A_DIGIT),
    Mutant("ink share: upper bound ignored", "explainer/nets/ood.py",
           "elif not self.ink_range[0] <= si <= self.ink_range[1]:",
           "elif si < self.ink_range[0]:", NOT_A_DIGIT),
    Mutant("predictor ignores the stored temperature", "explainer/reading/predict.py",
           "self.temperature = temperature_of(raw)", "self.temperature = 1.0", NOT_A_DIGIT),
    Mutant("predictor ignores the detector", "explainer/reading/predict.py",
           "        if self.detector is not None:\n", "        if False:\n", NOT_A_DIGIT),
    Mutant("calibration may make the ECE worse", "explainer/nets/calibration.py",
           "t = fitted if after <= before else 1.0", "t = fitted", NOT_A_DIGIT),
    Mutant("evaluate reports the ECE before scaling as after", "explainer/nets/calibration.py",
           "before, after = softmax_t(logits, 1.0), softmax_t(logits, t)",
           "before, after = softmax_t(logits, 1.0), softmax_t(logits, 1.0)", NOT_A_DIGIT),
    Mutant("train stores no not-a-digit fit", "explainer/nets/train_run.py",
           "                payload[CALIBRATION] = fitted\n", "                pass\n",
           NOT_A_DIGIT),
    # --- classroom GIFs: readable, paced, in step ------------------------------------------
    Mutant("classroom: convolution text stays at its 800x450 size",
           "explainer/animate/convolution_frames.py",
           "    k = max(0.7, u)\n    ph, pw", "    k = 1.0\n    ph, pw", CLASSROOM),
    Mutant("classroom: class pace as quick as the readme's", "explainer/animate/convolution.py",
           '"class": Pace(intro=2.5, stage=3.1,', '"class": Pace(intro=2.5, stage=0.6,',
           CLASSROOM),
    Mutant("classroom: sweep tables keep the last worked cell", "explainer/animate/convolution.py",
           "worked.paste(worked_cell(trace, cv, *pos), 2)", "worked.paste(cv.cells[-1], 2)",
           CLASSROOM),
    Mutant("classroom: a ReLU input drawn with the signed map",
           "explainer/animate/convolution_view.py",
           'return kind if kind in ("relu", "pool", "bn", "conv",',
           'return "conv" if kind in ("relu", "pool", "bn", "conv",', CLASSROOM),
    Mutant("classroom: training confusion counts at a fixed small size",
           "explainer/animate/training.py",
           "pt = fit_text(widest, 7.5 * k, cell - max(3, cell // 12))[1]", "pt = 6", CLASSROOM),
    # --- layouts and dense layers of channels-last networks ---------------------------------
    Mutant("a permute followed as if row-major", "explainer/analysis/arith/ops.py",
           "np.unravel_index(source_positions(rec, inp.shape)[out], inp.shape)",
           "np.unravel_index(k, inp.shape)", ARITH),
    Mutant("a dense layer reads the whole channels-last map", "explainer/analysis/arith/dense.py",
           "(inp[tuple(at[:-1])] if inp.ndim == rec.output.ndim else inp).ravel()",
           "inp.ravel()[: rec.weight.shape[1]]", ARITH),
    # --- Ctrl-C ------------------------------------------------------------------------------
    Mutant("Ctrl-C while the package loads prints a traceback", "explainer/__init__.py",
           "\nquiet_while_starting()\n", "\n", ("tests/test_hostile_inputs.py",)),
    Mutant("a Ctrl-C swallowed by a callback is lost", "explainer/interrupts.py",
           "                _interrupt_main_later()\n", "                pass\n",
           ("tests/test_hostile_inputs.py",)),
    Mutant("the package overrides the user's huge-page choice", "explainer/huge_pages.py",
           'os.environ.setdefault(VARIABLE, "1")', 'os.environ[VARIABLE] = "1"',
           ("tests/test_huge_pages.py",)),
    Mutant("a GIF forgets to say 'not a digit' first", "explainer/animate/answer.py",
           "    if trace.not_a_digit:\n", "    if False:\n",
           ("tests/test_said_first_views.py",)),
    Mutant("bars of a picture that is no digit keep their colours", "explainer/tracing/verdict.py",
           'return greys(theme) if getattr(trace, "not_a_digit", None) else (top, rest)',
           "return (top, rest)", ("tests/test_said_first_views.py",)),
    Mutant("the Trace forgets its verdict when saved", "explainer/tracing/trace.py",
           '"not_a_digit": self.not_a_digit', '"not_a_digit": None',
           ("tests/test_said_first_views.py",)),
]  # fmt: skip


def run(m: Mutant) -> str:
    path = ROOT / m.path
    original = path.read_text()
    if original.count(m.old) != 1:
        return "stale"
    tests = [t for t in m.tests if (ROOT / t).exists()]
    try:
        path.write_text(original.replace(m.old, m.new))
        cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests]
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    finally:
        path.write_text(original)
    return "killed" if proc.returncode != 0 else "SURVIVED"


def main(argv: list[str]) -> int:
    chosen = [m for m in MUTANTS if not argv or any(a in m.name for a in argv)]
    results = []
    for m in chosen:
        start = time.perf_counter()
        outcome = run(m)
        results.append((m, outcome))
        print(f"{outcome:<9} {m.name}  ({m.path}, {time.perf_counter() - start:.0f} s)", flush=True)
    bad = [(m, o) for m, o in results if o != "killed"]
    print(f"\n{len(results) - len(bad)} of {len(results)} mutants killed")
    for m, o in bad:
        print(f"  {o}: {m.name} ({m.path})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
