/* The library's preprocessing (explainer/reading/preprocess.py), step for step, in the browser.
 *
 * A drawing becomes the 28x28 picture the model reads exactly as `explainer.preprocess` makes
 * it: grey levels, inverted when the paper is light, background cleaned (Otsu threshold,
 * specks, ruled lines and stray dots dropped, strokes stretched to 1), cropped to the ink,
 * stroke width brought into MNIST's range, scaled into 20x20 (Pillow's Lanczos), pasted into
 * 28x28 with the centre of mass in the middle. Pillow's resampling and scipy.ndimage's filters
 * (gaussian, percentile, uniform, maximum, label, distance transform, grey and binary
 * morphology) are ported with their boundary modes, so the browser's picture equals the
 * library's (tests/test_export_page.py compares them on the same strokes).
 *
 * It runs at every stroke, so every pass is a flat loop over typed arrays (no function call or
 * closure per pixel), and each shortcut gives the very same numbers: rows of even paper take
 * their one filtered value, the thinning's erosion is computed only where its disk fits inside
 * the crop (elsewhere it reaches the zero margin), sums keep their order.
 *
 * A picture is {h, w, d: Float32Array(h * w)}, row-major, light ink on black in [0, 1].
 */
(function (root) {
  "use strict";
  const BOX = 20, FIELD = 28, TARGET_STROKE = 2.5, STROKE_LO = 1.5, STROKE_HI = 4.0;
  const STROKE_WORK = 80, MIN_CONTRAST = 0.08, WORK_SIZE = 256;

  const pic = (h, w, d) => ({ h, w, d: d || new Float32Array(h * w) });
  const pyRound = (x) => {  // Python's round(): halves go to the even neighbour
    const r = Math.round(x);
    return Math.abs(x % 1) === 0.5 ? 2 * Math.round(x / 2) : r;
  };
  function select(a, k) {  // the k-th smallest of a (a copy is reordered), in linear time
    let lo = 0, hi = a.length - 1;
    while (hi > lo) {
      const pivot = a[(lo + hi) >> 1];
      let i = lo, j = hi;
      while (i <= j) {
        while (a[i] < pivot) i++;
        while (a[j] > pivot) j--;
        if (i <= j) { const t = a[i]; a[i] = a[j]; a[j] = t; i++; j--; }
      }
      if (k <= j) hi = j; else if (k >= i) lo = i; else return a[k];
    }
    return a[k];
  }
  const copy = (a) => Float64Array.from(a);
  function median(a) {
    const s = copy(a), n = s.length;
    if (n % 2) return select(s, (n - 1) / 2);
    return Math.fround((select(s, n / 2 - 1) + select(s, n / 2)) / 2);
  }
  function percentile(a, q) {  // numpy's default (linear) percentile
    const s = copy(a), i = (q / 100) * (s.length - 1), lo = Math.floor(i);
    const hi = Math.min(lo + 1, s.length - 1), t = i - lo, vlo = select(s, lo), vhi = select(s, hi);
    return t >= 0.5 ? vhi - (vhi - vlo) * (1 - t) : vlo + (vhi - vlo) * t;
  }
  function maxOf(d) {
    let m = -Infinity;
    for (let i = 0; i < d.length; i++) if (d[i] > m) m = d[i];
    return m;
  }
  function minOf(d) {
    let m = Infinity;
    for (let i = 0; i < d.length; i++) if (d[i] < m) m = d[i];
    return m;
  }
  function clip01(p) {
    const out = pic(p.h, p.w), d = p.d, o = out.d;
    for (let i = 0; i < d.length; i++) { const v = d[i]; o[i] = v < 0 ? 0 : v > 1 ? 1 : v; }
    return out;
  }
  function every2(p) {  // p[::2, ::2] as a flat list
    const H = p.h, W = p.w, d = p.d, out = new Float32Array(Math.ceil(H / 2) * Math.ceil(W / 2));
    let n = 0;
    for (let y = 0; y < H; y += 2) for (let x = y * W, end = x + W; x < end; x += 2) out[n++] = d[x];
    return out;
  }
  function crop(p, t, l, b, r) {
    const out = { h: b - t, w: r - l, d: new p.d.constructor((b - t) * (r - l)) };
    for (let y = t; y < b; y++) out.d.set(p.d.subarray(y * p.w + l, y * p.w + r), (y - t) * (r - l));
    return out;
  }
  function pad(p, n) {
    const out = pic(p.h + 2 * n, p.w + 2 * n);
    for (let y = 0; y < p.h; y++) out.d.set(p.d.subarray(y * p.w, (y + 1) * p.w), (y + n) * out.w + n);
    return out;
  }

  // --- Pillow's resampling (Resample.c: precompute_coeffs, 32-bit float passes) ------------
  const FILTERS = {
    box: [0.5, (x) => (x > -0.5 && x <= 0.5 ? 1 : 0)],
    bilinear: [1, (x) => { x = Math.abs(x); return x < 1 ? 1 - x : 0; }],
    lanczos: [3, (x) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0)],
  };
  function sinc(x) { if (x === 0) return 1; x *= Math.PI; return Math.sin(x) / x; }
  function coeffs(inSize, outSize, filter) {
    const [fsupport, f] = FILTERS[filter];
    const scale = inSize / outSize, filterscale = Math.max(scale, 1);
    const support = fsupport * filterscale, ss = 1 / filterscale, out = [];
    for (let xx = 0; xx < outSize; xx++) {
      const center = (xx + 0.5) * scale;
      const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
      const xmax = Math.min(Math.trunc(center + support + 0.5), inSize);
      const k = [];
      let ww = 0;
      for (let x = xmin; x < xmax; x++) { const w = f((x - center + 0.5) * ss); k.push(w); ww += w; }
      out.push([xmin, ww !== 0 ? k.map((w) => w / ww) : k]);
    }
    return out;
  }
  function resize(p, h, w, filter) {  // Image.fromarray(p, "F").resize((w, h), filter)
    let cur = p;
    if (w !== p.w) cur = resizeRows(cur, w, coeffs(p.w, w, filter));
    if (h !== p.h) cur = resizeColumns(cur, h, coeffs(p.h, h, filter));
    return cur === p ? pic(p.h, p.w, p.d.slice()) : cur;
  }
  function resizeRows(p, w, cs) {  // each row to w values; cs: coeffs(p.w, w)
    const out = pic(p.h, w), d = p.d, W = p.w;
    for (let xx = 0; xx < w; xx++) {
      const [x0, k] = cs[xx], n = k.length;
      for (let y = 0; y < p.h; y++) {
        let s = 0;
        for (let i = 0, b = y * W + x0; i < n; i++) s += d[b + i] * k[i];
        out.d[y * w + xx] = s;
      }
    }
    return out;
  }
  function resizeColumns(p, h, cs) {  // each column to h values, a whole output row at once
    const out = pic(h, p.w), d = p.d, W = p.w, acc = new Float64Array(W);
    for (let yy = 0; yy < h; yy++) {
      const [y0, k] = cs[yy];
      acc.fill(0);
      for (let i = 0; i < k.length; i++) {
        const src = (y0 + i) * W, ki = k[i];
        for (let x = 0; x < W; x++) acc[x] += d[src + x] * ki;
      }
      out.d.set(acc, yy * W);
    }
    return out;
  }

  // --- scipy.ndimage ------------------------------------------------------------------------
  const MODES = {
    reflect: (i, n) => { while (i < 0 || i >= n) i = i < 0 ? -i - 1 : 2 * n - i - 1; return i; },
    nearest: (i, n) => (i < 0 ? 0 : i >= n ? n - 1 : i),
  };
  function table(n, radius, mode) {  // source index of each window position, per position
    const k = 2 * radius + 1, t = new Int32Array(n * k), m = MODES[mode];
    for (let c = 0; c < n; c++) for (let j = -radius; j <= radius; j++) t[c * k + j + radius] = m(c + j, n);
    return t;
  }
  // correlate(p, axis, w, mode, div): ndimage.correlate1d with odd symmetric weights w, each sum
  // (taken in window order, in doubles) divided by div; stored in p's array type. A window
  // whose values are all c sums to flatSum(c, w) (the same sum): rows of paper are filled.
  function correlate(p, axis, w, mode, div = 1) {
    return axis ? correlateRows(p, w, mode, div) : correlateColumns(p, w, mode, div);
  }
  function flatSum(c, w) {
    let s = 0;
    for (let j = 0; j < w.length; j++) s += c * w[j];
    return s;
  }
  function rowValues(p) {  // per row: its value where all its pixels are equal, else NaN
    const out = new Float64Array(p.h), d = p.d, W = p.w;
    for (let y = 0; y < p.h; y++) {
      const row = y * W, c = d[row];
      let x = 1;
      while (x < W && d[row + x] === c) x++;
      out[y] = x === W ? c : NaN;
    }
    return out;
  }
  function correlateRows(p, w, mode, div) {  // the window slides along each row
    const H = p.h, W = p.w, d = p.d, k = w.length, r = k >> 1, t = table(W, r, mode);
    const o = new d.constructor(H * W), flat = rowValues(p);
    for (let y = 0; y < H; y++) {
      const row = y * W;
      if (flat[y] === flat[y]) { o.fill(flatSum(flat[y], w) / div, row, row + W); continue; }
      for (let x = 0; x < W; x++) {
        let s = 0;
        if (x >= r && x < W - r) for (let j = 0, b = row + x - r; j < k; j++) s += d[b + j] * w[j];
        else for (let j = 0, c = x * k; j < k; j++) s += d[row + t[c + j]] * w[j];
        o[row + x] = s / div;
      }
    }
    return { h: H, w: W, d: o };
  }
  function correlateColumns(p, w, mode, div) {  // a whole output row at once, sums in window order
    const H = p.h, W = p.w, d = p.d, k = w.length, r = k >> 1, m = MODES[mode];
    const o = new d.constructor(H * W), acc = new Float64Array(W), flat = rowValues(p);
    for (let y = 0; y < H; y++) {
      const c = flat[m(y - r, H)];
      let j = 0;
      while (j < k && flat[m(y + j - r, H)] === c) j++;
      if (j === k) { o.fill(flatSum(c, w) / div, y * W, (y + 1) * W); continue; }
      acc.fill(0);
      for (let j = 0; j < k; j++) {
        const src = m(y + j - r, H) * W, wj = w[j];
        for (let x = 0; x < W; x++) acc[x] += d[src + x] * wj;
      }
      for (let x = 0, row = y * W; x < W; x++) o[row + x] = acc[x] / div;
    }
    return { h: H, w: W, d: o };
  }
  function gaussian(p, sigma, mode = "reflect") {
    const radius = Math.trunc(4 * sigma + 0.5), k = [];
    let sum = 0;
    for (let x = -radius; x <= radius; x++) { const v = Math.exp((-0.5 / (sigma * sigma)) * x * x); k.push(v); sum += v; }
    const w = Float64Array.from(k, (v) => v / sum);
    return correlate(correlate(p, 0, w, mode), 1, w, mode);
  }
  function uniform(p, size, mode) {  // the window's mean (sum of 1 * value, divided by size)
    const ones = new Float64Array(2 * (size >> 1) + 1).fill(1);
    return correlate(correlate(p, 0, ones, mode, size), 1, ones, mode, size);
  }
  function maxFilter3(p) {  // ndimage.maximum_filter(size=3), reflect: max of a pixel's 3x3
    const H = p.h, W = p.w, d = p.d, cols = new d.constructor(H * W), o = new d.constructor(H * W);
    for (let y = 0; y < H; y++) {
      const up = (y > 0 ? y - 1 : 0) * W, row = y * W, down = (y < H - 1 ? y + 1 : H - 1) * W;
      for (let x = 0; x < W; x++) cols[row + x] = max3(d[up + x], d[row + x], d[down + x]);
    }
    for (let y = 0; y < H; y++) {
      const row = y * W;
      for (let x = 0; x < W; x++) {
        const left = x > 0 ? x - 1 : 0, right = x < W - 1 ? x + 1 : W - 1;
        o[row + x] = max3(cols[row + left], cols[row + x], cols[row + right]);
      }
    }
    return { h: H, w: W, d: o };
  }
  function max3(a, b, c) {  // maxOf([a, b, c])
    let m = -Infinity;
    if (a > m) m = a;
    if (b > m) m = b;
    if (c > m) m = c;
    return m;
  }
  function rankFilter(p, size, rank, mode) {  // the rank-th smallest of each size x size window
    const H = p.h, W = p.w, out = pic(H, W), r = size >> 1, k = 2 * r + 1;
    const rows = table(H, r, mode), cols = table(W, r, mode), win = new Float64Array(size * size);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        let n = 0;
        for (let a = 0; a < k; a++) {
          const row = rows[y * k + a] * W;
          for (let b = 0; b < k; b++) win[n++] = p.d[row + cols[x * k + b]];
        }
        out.d[y * W + x] = select(win, rank);
      }
    }
    return out;
  }
  // binary masks: {h, w, d: Uint8Array}; structure = list of [dy, dx]; outside the picture is 0
  const CROSS = [[0, 0], [-1, 0], [1, 0], [0, -1], [0, 1]];
  const mask = (h, w, d) => ({ h, w, d: d || new Uint8Array(h * w) });
  function disk(r) {
    const s = [];
    for (let y = -r; y <= r; y++) for (let x = -r; x <= r; x++) if (x * x + y * y <= r * r + r) s.push([y, x]);
    return s;
  }
  function dilate(b, st = CROSS, iterations = 1) {
    const dys = Int32Array.from(st, (o) => o[0]), dxs = Int32Array.from(st, (o) => o[1]);
    const H = b.h, W = b.w;
    for (let it = 0; it < iterations; it++) {
      const out = mask(H, W), o = out.d, d = b.d;
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
        if (!d[y * W + x]) continue;
        for (let j = 0; j < dys.length; j++) {
          const yy = y + dys[j], xx = x + dxs[j];
          if (yy >= 0 && yy < H && xx >= 0 && xx < W) o[yy * W + xx] = 1;
        }
      }
      b = out;
    }
    return b;
  }
  function erode(b, iterations = 1) {  // cross structure, border value 0
    const H = b.h, W = b.w;
    for (let it = 0; it < iterations; it++) {
      const out = mask(H, W), o = out.d, d = b.d;
      for (let y = 0; y < H; y++) for (let x = 0, i = y * W; x < W; x++, i++) {
        o[i] = d[i] && y > 0 && d[i - W] && y < H - 1 && d[i + W] && x > 0 && d[i - 1] &&
          x < W - 1 && d[i + 1] ? 1 : 0;
      }
      b = out;
    }
    return b;
  }
  function label(b) {  // 4-connected parts numbered in raster order, as ndimage.label
    const H = b.h, W = b.w, d = b.d, lab = new Int32Array(H * W), stack = new Int32Array(H * W);
    let n = 0;
    for (let s = 0; s < lab.length; s++) {
      if (!d[s] || lab[s]) continue;
      lab[s] = ++n;
      let top = 0;
      stack[top++] = s;
      while (top) {
        const i = stack[--top], y = (i / W) | 0, x = i - y * W;
        if (y > 0 && d[i - W] && !lab[i - W]) { lab[i - W] = n; stack[top++] = i - W; }
        if (y < H - 1 && d[i + W] && !lab[i + W]) { lab[i + W] = n; stack[top++] = i + W; }
        if (x > 0 && d[i - 1] && !lab[i - 1]) { lab[i - 1] = n; stack[top++] = i - 1; }
        if (x < W - 1 && d[i + 1] && !lab[i + 1]) { lab[i + 1] = n; stack[top++] = i + 1; }
      }
    }
    return [lab, n];
  }
  function fillHoles(b) {  // background parts that do not touch the border become ink
    const inv = mask(b.h, b.w, b.d.map((v) => 1 - v)), [lab, n] = label(inv), outside = new Uint8Array(n + 1);
    for (let y = 0; y < b.h; y++) for (let x = 0; x < b.w; x++) {
      if (y === 0 || x === 0 || y === b.h - 1 || x === b.w - 1) outside[lab[y * b.w + x]] = 1;
    }
    return mask(b.h, b.w, b.d.map((v, i) => (v || !outside[lab[i]] ? 1 : 0)));
  }
  const INF = 1e20;
  function edt(b) {  // exact Euclidean distance of each ink pixel to the nearest 0 (Felzenszwalb)
    const H = b.h, W = b.w, f = new Float64Array(H * W), n = Math.max(H, W);
    const v = new Int32Array(n), z = new Float64Array(n + 1), g = new Float64Array(n);
    for (let i = 0; i < f.length; i++) f[i] = b.d[i] ? INF : 0;
    for (let x = 0; x < W; x++) edtLine(f, x, W, H, v, z, g);  // down each column
    for (let y = 0; y < H; y++) edtLine(f, y * W, 1, W, v, z, g);  // along each row
    for (let i = 0; i < f.length; i++) f[i] = Math.sqrt(f[i]);
    return { h: H, w: W, d: f };
  }
  // the squared distances along one line of n values of f (from start, stride apart), in place;
  // v, z, g: work arrays of at least n, n + 1, n
  function edtLine(f, start, stride, n, v, z, g) {
    for (let q = 0; q < n; q++) g[q] = f[start + q * stride];
    let k = 0; v[0] = 0; z[0] = -INF; z[1] = INF;
    for (let q = 1; q < n; q++) {
      let s = ((g[q] + q * q) - (g[v[k]] + v[k] * v[k])) / (2 * q - 2 * v[k]);
      while (s <= z[k]) { k--; s = ((g[q] + q * q) - (g[v[k]] + v[k] * v[k])) / (2 * q - 2 * v[k]); }
      k++; v[k] = q; z[k] = s; z[k + 1] = INF;
    }
    k = 0;
    for (let q = 0; q < n; q++) {
      while (z[k + 1] < q) k++;
      f[start + q * stride] = (q - v[k]) * (q - v[k]) + g[v[k]];
    }
  }

  // --- reading (explainer/reading/images.py) ------------------------------------------------
  function toGray(rgba, w, h) {  // an opaque canvas: ITU-R 601 luma; transparent: composited
    let g = pic(h, w), minA = 255;
    const gd = g.d, n = w * h;
    for (let i = 0, j = 0; i < n; i++, j += 4) {
      gd[i] = (0.299 * rgba[j] + 0.587 * rgba[j + 1] + 0.114 * rgba[j + 2]) / 255;
      if (rgba[j + 3] < minA) minA = rgba[j + 3];
    }
    if (minA / 255 < 0.98) {
      let sum = 0, n = 0;
      for (let i = 0; i < w * h; i++) if (rgba[4 * i + 3] / 255 > 0.5) { sum += g.d[i]; n++; }
      const bg = n && sum / n <= 0.5 ? 1 : 0;
      g = pic(h, w, g.d.map((v, i) => { const a = rgba[4 * i + 3] / 255; return v * a + bg * (1 - a); }));
    }
    if (Math.max(w, h) > WORK_SIZE) {
      const s = WORK_SIZE / Math.max(w, h);
      g = resize(g, Math.max(1, pyRound(h * s)), Math.max(1, pyRound(w * s)), "box");
    }
    return clip01(g);
  }

  // --- cleaning (explainer/reading/cleaning.py) ---------------------------------------------
  function backgroundIsLight(g) {
    const c = crop(g, Math.trunc(g.h / 5), Math.trunc(g.w / 5), g.h - Math.trunc(g.h / 5), g.w - Math.trunc(g.w / 5));
    return 0.5 * (median(every2(g)) + median(c.d)) > 0.5;
  }
  function otsu(d, bins = 128) {
    const hist = new Float64Array(bins);
    for (let i = 0; i < d.length; i++) hist[Math.min(Math.max(Math.floor(d[i] * bins), 0), bins - 1)]++;
    let total = 0;
    for (let i = 0; i < bins; i++) total += hist[i];
    total = total || 1;
    let w0 = 0, m0 = 0, mTotal = 0;
    for (let i = 0; i < bins; i++) mTotal += (hist[i] / total) * ((i + 0.5) / bins);
    let best = -1, arg = 0;
    for (let i = 0; i < bins - 1; i++) {
      w0 += hist[i] / total; m0 += (hist[i] / total) * ((i + 0.5) / bins);
      const num = (mTotal * w0 - m0) ** 2, den = w0 * (1 - w0);
      let b = den === 0 ? (num === 0 ? 0 : Number.MAX_VALUE) : num / den;
      if (Number.isNaN(b)) b = 0;
      if (b > best) { best = b; arg = i; }
    }
    return (arg + 1) / bins;
  }
  function backgroundLevel(ink) {
    if (Math.max(ink.h, ink.w) < 64) return median(ink.d);
    const small = resize(ink, 32, 32, "box");
    const rough = uniform(rankFilter(small, 9, 8, "nearest"), 5, "nearest");
    const resid = pic(32, 32, small.d.map((v, i) => v - rough.d[i]));
    const t = Math.max(otsu(clip01(resid).d), MIN_CONTRAST / 2);
    let m = mask(32, 32, resid.d.map((v) => (v > t ? 1 : 0)));
    m = fillHoles(erode(dilate(m, CROSS, 2), 2));
    const paper = dilate(m).d.map((v) => 1 - v);
    const paperVals = small.d.filter((_, i) => paper[i]);
    if (paperVals.length / 1024 < 0.2) return percentile(small.d, 10);
    const num = gaussian(pic(32, 32, small.d.map((v, i) => v * paper[i])), 4, "nearest");
    const den = gaussian(pic(32, 32, Float32Array.from(paper)), 4, "nearest");
    const fill = median(paperVals);
    const level = pic(32, 32, num.d.map((v, i) => (den.d[i] > 1e-3 ? v / Math.max(den.d[i], 1e-3) : fill)));
    if (percentile(level.d, 99) - percentile(level.d, 1) < 0.04) return fill;
    return resize(level, ink.h, ink.w, "bilinear");
  }
  function thinRuns(flags, most) {  // runs of true longer than most turned false
    const out = flags.slice();
    for (let i = 0; i < flags.length;) {
      if (!flags[i]) { i++; continue; }
      let j = i;
      while (j < flags.length && flags[j]) j++;
      if (j - i > most) out.fill(false, i, j);
      i = j;
    }
    return out;
  }
  function dropLines(m) {
    if (Math.min(m.h, m.w) < 48) return m;
    const most = Math.max(3, Math.floor(Math.min(m.h, m.w) / 50));  // line_thickness
    const H = m.h, W = m.w, d = m.d, colSums = new Int32Array(W);
    let rows = [], cols = [];
    for (let y = 0; y < H; y++) {
      let s = 0;
      for (let x = 0, i = y * W; x < W; x++, i++) { s += d[i]; colSums[x] += d[i]; }
      rows.push(s / W >= 0.75);
    }
    for (let x = 0; x < W; x++) cols.push(colSums[x] / H >= 0.75);
    rows = thinRuns(rows, most);
    cols = thinRuns(cols, most);
    if (!rows.some(Boolean) && !cols.some(Boolean)) return m;
    const line = (i) => rows[(i / m.w) | 0] || cols[i % m.w];
    const rest = mask(m.h, m.w, m.d.map((v, i) => (v && !line(i) ? 1 : 0)));
    if (!rest.d.some(Boolean)) return m;
    const vert = [], horiz = [];
    for (let j = -4; j <= 4; j++) { vert.push([j, 0]); horiz.push([0, j]); }
    const nearV = dilate(rest, vert), nearH = dilate(rest, horiz);
    return mask(m.h, m.w, m.d.map((v, i) => {
      const y = (i / m.w) | 0, x = i % m.w;
      const crossing = v && ((rows[y] && nearV.d[i]) || (cols[x] && nearH.d[i]));
      return rest.d[i] || crossing ? 1 : 0;
    }));
  }
  function parts(lab, n, w) {  // per label: size and bounding box [t, l, b, r)
    const p = Array.from({ length: n + 1 }, () => ({ size: 0, t: 1e9, l: 1e9, b: -1, r: -1, band: 0 }));
    for (let i = 0; i < lab.length; i++) {
      const k = lab[i];
      if (!k) continue;
      const y = (i / w) | 0, x = i % w, q = p[k];
      q.size++; q.t = Math.min(q.t, y); q.l = Math.min(q.l, x); q.b = Math.max(q.b, y + 1); q.r = Math.max(q.r, x + 1);
    }
    return p;
  }
  function dropSpecks(m, lab, n) {
    const dy = Math.max(1, Math.trunc(m.h / 8)), dx = Math.max(1, Math.trunc(m.w / 8)), p = parts(lab, n, m.w);
    for (let i = 0; i < lab.length; i++) {
      const y = (i / m.w) | 0, x = i % m.w;
      if (lab[i] && !(y >= dy && y < m.h - dy && x >= dx && x < m.w - dx)) p[lab[i]].band++;
    }
    let biggest = 0;
    for (let k = 1; k <= n; k++) biggest = Math.max(biggest, p[k].size);
    const big = [], strokes = [];
    for (let k = 1; k <= n; k++) {
      if (p[k].size >= Math.max(0.05 * biggest, 2)) {
        big.push(k);
        if (p[k].band / Math.max(p[k].size, 1) < 0.7) strokes.push(k);
      }
    }
    const keep = dropFarDots(p, strokes.length ? strokes : big), kept = new Uint8Array(n + 1);
    for (const k of keep) kept[k] = 1;
    return mask(m.h, m.w, lab.map((k) => kept[k]));
  }
  function dropFarDots(p, keep) {
    if (keep.length < 2) return keep;
    let main = keep[0];
    for (const k of keep) if (p[k].size > p[main].size) main = k;
    const M = p[main], reach = Math.max(M.b - M.t, M.r - M.l);
    return keep.filter((k) => {
      const q = p[k], gapY = Math.max(M.t - q.b, q.t - M.b, 0), gapX = Math.max(M.l - q.r, q.l - M.r, 0);
      const extent = Math.max(q.b - q.t, q.r - q.l);
      const small = q.size < 0.2 * M.size && extent < 0.3 * reach;
      return k === main || !small || Math.max(gapY, gapX) < 0.25 * reach;
    });
  }
  function grain(flat, paper) {  // robust std of the paper's grain, from pixels 2 apart
    const H = flat.h, W = flat.w, d = flat.d;
    let steps;
    if (W > 2) {  // |flat[:, 2:] - flat[:, :-2]|[::2, ::2], each difference a float32
      steps = new Float32Array(Math.ceil(H / 2) * Math.ceil((W - 2) / 2));
      let n = 0;
      for (let y = 0; y < H; y += 2) {
        for (let x = y * W, end = x + W - 2; x < end; x += 2) steps[n++] = Math.abs(d[x + 2] - d[x]);
      }
    } else {  // |flat[::2, ::2] - paper|[::2, ::2]
      const sub = Float32Array.from(every2(flat), (v) => Math.abs(v - paper));
      steps = every2(pic(Math.ceil(H / 2), Math.ceil(W / 2), sub));
    }
    return (1.4826 * median(steps)) / Math.sqrt(2);
  }
  function cleanBackground(ink) {
    const zeros = () => pic(ink.h, ink.w), level = backgroundLevel(ink), n = ink.h * ink.w;
    let flat = pic(ink.h, ink.w);
    const fd0 = flat.d, id = ink.d;
    if (typeof level === "number") for (let i = 0; i < n; i++) fd0[i] = id[i] - level;
    else for (let i = 0; i < n; i++) fd0[i] = id[i] - level.d[i];
    if (Math.min(ink.h, ink.w) >= 32) flat = gaussian(flat, Math.max(ink.h, ink.w) / 400 + 0.3);
    const paper = median(every2(flat)), noise = grain(flat, paper);
    flat = clip01(flat);
    const floor = Math.max(MIN_CONTRAST, 6 * noise);
    if (maxOf(flat.d) - paper < floor) return zeros();
    const t = otsu(flat.d), fd = flat.d;
    let m = mask(flat.h, flat.w);
    for (let i = 0; i < n; i++) m.d[i] = fd[i] > t ? 1 : 0;
    m = dropLines(m);
    const [lab, count] = label(m);
    if (count === 0) return zeros();
    if (count > 1) m = dropSpecks(m, lab, count);
    const md = m.d, inMask = new Float64Array(n);
    let k = 0;
    for (let i = 0; i < n; i++) if (md[i]) inMask[k++] = fd[i];
    const peak = k ? percentile(inMask.subarray(0, k), 90) : maxOf(fd);
    if (peak - paper < floor) return zeros();
    const low = 0.5 * t, near = dilate(m).d, out = zeros(), span = Math.max(peak - low, 1e-6);
    for (let i = 0; i < n; i++) if (near[i]) out.d[i] = Math.min(Math.max((fd[i] - low) / span, 0), 1);
    return out;
  }

  // --- geometry (explainer/reading/geometry.py) ---------------------------------------------
  function inkBbox(p, level = 0.05) {
    const H = p.h, W = p.w, d = p.d;
    let t = H, l = W, b = -1, r = -1;
    for (let y = 0; y < H; y++) {
      let x = 0, e = W - 1;  // the row's first and last pixel above level
      while (x < W && !(d[y * W + x] > level)) x++;
      if (x === W) continue;
      while (!(d[y * W + e] > level)) e--;
      if (t === H) t = y;
      b = y; l = Math.min(l, x); r = Math.max(r, e);
    }
    return b < 0 ? [0, 0, H, W] : [t, l, b + 1, r + 1];
  }
  function ridge(m) {
    const d = crop(edt(padMask(m)), 1, 1, m.h + 1, m.w + 1), mx = maxFilter3(d), r = mask(m.h, m.w);
    for (let i = 0; i < r.d.length; i++) r.d[i] = m.d[i] && d.d[i] >= mx.d[i] - 0.5 ? 1 : 0;
    return [d, r];
  }
  function padMask(m) {
    const out = mask(m.h + 2, m.w + 2);
    for (let y = 0; y < m.h; y++) out.d.set(m.d.subarray(y * m.w, (y + 1) * m.w), (y + 1) * out.w + 1);
    return out;
  }
  function strokeWidth(img, level = 0.5) {
    const up = Math.max(1, Math.ceil(STROKE_WORK / Math.max(img.h, img.w)));
    if (up > 1) img = resize(img, img.h * up, img.w * up, "bilinear");
    const m = mask(img.h, img.w);
    let inked = 0;
    for (let i = 0; i < m.d.length; i++) if (img.d[i] > level) { m.d[i] = 1; inked++; }
    if (!inked) return 0;
    const [d, r] = ridge(m), onRidge = new Float64Array(inked);
    let n = 0;
    for (let i = 0; i < r.d.length; i++) if (r.d[i]) onRidge[n++] = d.d[i];
    return (2 * median(onRidge.subarray(0, n)) - 1) / up;
  }
  const boxStrokeWidth = (c) => strokeWidth(fitBox(c, BOX));
  // grey dilation (grow: max) or erosion (min) with disk(r), outside the picture ignored, of
  // the pixels in rows t..b-1, columns l..r-1 (the others stay 0); an erosion of p >= 0 skips
  // the pixels that are 0 (the disk holds the pixel itself: its minimum is 0)
  function greyMorph(p, r, grow, [t, l, b, rt] = [0, 0, p.h, p.w]) {
    const H = p.h, W = p.w, levels = runTables(p, grow), out = pic(H, W), o = out.d, reach = [];
    for (let dy = -r; dy <= r; dy++) reach.push(Math.floor(Math.sqrt(r * r + r - dy * dy)));
    for (let y = t; y < b; y++) {
      for (let x = l; x < rt; x++) {
        if (!grow && p.d[y * W + x] === 0) continue;
        let acc = grow ? -Infinity : Infinity;
        for (let dy = Math.max(-r, -y); dy <= r && y + dy < H; dy++) {
          const row = (y + dy) * W, hw = reach[dy + r];
          const a = Math.max(x - hw, 0), e = Math.min(x + hw, W - 1), k = 31 - Math.clz32(e - a + 1);
          const tk = levels[k], u = tk[row + a], v = tk[row + e - (1 << k) + 1];
          acc = grow ? Math.max(acc, Math.max(u, v)) : Math.min(acc, Math.min(u, v));
        }
        o[y * W + x] = acc;
      }
    }
    return out;
  }
  // levels[k][y * w + x]: max (grow) or min of row y's columns x..x+2^k-1 (a sparse table: any
  // run of columns is the max or min of two overlapping entries)
  function runTables(p, grow) {
    const H = p.h, W = p.w, levels = [p.d];
    for (let len = 2; len <= W; len *= 2) {
      const prev = levels[levels.length - 1], next = new Float32Array(H * W), half = len / 2;
      for (let y = 0; y < H; y++) {
        for (let x = y * W, end = x + W - len; x <= end; x++) {
          next[x] = grow ? Math.max(prev[x], prev[x + half]) : Math.min(prev[x], prev[x + half]);
        }
      }
      levels.push(next);
    }
    return levels;
  }
  function normaliseStroke(c, width) {
    if (width <= 0 || (width >= STROKE_LO && width <= STROKE_HI)) return c;
    const scale = STROKE_WORK / Math.max(c.h, c.w);
    const h = Math.max(1, pyRound(c.h * scale)), w = Math.max(1, pyRound(c.w * scale));
    const perPx = STROKE_WORK / BOX, change = ((TARGET_STROKE - width) * perPx) / 2;
    const r = Math.max(1, pyRound(Math.abs(change)));
    const inner = clip01(resize(c, h, w, scale < 1 ? "box" : "bilinear")), work = pad(inner, r);
    if (change > 0) return greyMorph(work, r, true);
    // eroded, the margin of r zeros leaves 0 wherever the disk does not fit inside the crop
    const core = pad(greyMorph(inner, r, false, [r, r, h - r, w - r]), r);
    const keep = pyRound((TARGET_STROKE * perPx) / 2), n = work.h * work.w, inked = mask(work.h, work.w);
    for (let i = 0; i < n; i++) inked.d[i] = work.d[i] > 0.5 ? 1 : 0;
    const spineMask = dilate(ridge(inked)[1], disk(keep)).d, spine = pic(work.h, work.w);
    for (let i = 0; i < n; i++) spine.d[i] = spineMask[i] & inked.d[i];
    const soft = gaussian(spine, 0.7).d, out = pic(work.h, work.w);
    for (let i = 0; i < n; i++) out.d[i] = Math.max(core.d[i], soft[i]);
    return clip01(out);
  }
  function fitBox(c, box = BOX) {
    const s = box / Math.max(c.h, c.w);
    const out = resize(c, Math.max(1, pyRound(c.h * s)), Math.max(1, pyRound(c.w * s)), "lanczos");
    const clipped = out.d.map((v) => (v < 0 ? 0 : v)), peak = maxOf(clipped);
    return pic(out.h, out.w, peak > 0 ? clipped.map((v) => Math.min(v / peak, 1)) : clipped);
  }
  function pasteCentred(p, size = FIELD, byMass = true) {
    let sum = 0, sy = 0, sx = 0;
    for (let y = 0; y < p.h; y++) for (let x = 0; x < p.w; x++) { const v = p.d[y * p.w + x]; sum += v; sy += v * y; sx += v * x; }
    const [cy, cx] = byMass && sum > 0 ? [sy / sum, sx / sum] : [(p.h - 1) / 2, (p.w - 1) / 2];
    const top = Math.min(Math.max(pyRound(size / 2 - cy), 0), size - p.h);
    const left = Math.min(Math.max(pyRound(size / 2 - cx), 0), size - p.w);
    const out = pic(size, size);
    for (let y = 0; y < p.h; y++) out.d.set(p.d.subarray(y * p.w, (y + 1) * p.w), (y + top) * size + left);
    return out;
  }

  // --- the recipe (explainer/reading/preprocess.py) -----------------------------------------
  /** RGBA bytes of a w x h picture -> {image (28x28 Float32Array), steps [[name, pic]],
   *  inverted, bbox, stroke}, or {noInk: message} for a blank picture. */
  function preprocess(rgba, w, h) {
    const gray = toGray(rgba, w, h), steps = [["original", gray]];
    if (maxOf(gray.d) - minOf(gray.d) < 2 * MIN_CONTRAST) return { noInk: "no ink yet: draw a digit" };
    const inverted = backgroundIsLight(gray);
    const ink = inverted ? pic(gray.h, gray.w, gray.d.map((v) => 1 - v)) : gray;
    steps.push(["inverted", ink]);
    const cleaned = cleanBackground(ink);
    if (!cleaned.d.some((v) => v > 0.05)) return { noInk: "nothing stands out from the background" };
    steps.push(["cleaned", cleaned]);
    const box = inkBbox(cleaned), cropped = crop(cleaned, ...box);
    steps.push(["cropped", cropped]);
    const width = boxStrokeWidth(cropped), stroked = normaliseStroke(cropped, width);
    steps.push(["stroke", stroked]);
    const scaled = fitBox(stroked, BOX);
    steps.push(["scaled", scaled]);
    const final = pasteCentred(scaled, FIELD, true);
    steps.push(["centred", final]);
    return { image: final.d, steps, inverted, bbox: box, stroke: width };
  }

  const api = { preprocess, resize, gaussian, edt, strokeWidth, fitBox, otsu, pyRound };
  if (typeof module !== "undefined" && module.exports) module.exports = api;
  else root.explainerPreprocess = api;
})(typeof window !== "undefined" ? window : globalThis);
