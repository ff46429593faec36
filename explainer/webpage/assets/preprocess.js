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
  function maxOf(d) { let m = -Infinity; for (const v of d) if (v > m) m = v; return m; }
  function minOf(d) { let m = Infinity; for (const v of d) if (v < m) m = v; return m; }
  function clip01(p) {
    const out = pic(p.h, p.w), d = p.d, o = out.d;
    for (let i = 0; i < d.length; i++) { const v = d[i]; o[i] = v < 0 ? 0 : v > 1 ? 1 : v; }
    return out;
  }
  function every2(p) {  // p[::2, ::2] as a flat list
    const out = new Float32Array(Math.ceil(p.h / 2) * Math.ceil(p.w / 2));
    let n = 0;
    for (let y = 0; y < p.h; y += 2) for (let x = 0; x < p.w; x += 2) out[n++] = p.d[y * p.w + x];
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
    if (w !== p.w) {
      const cs = coeffs(p.w, w, filter), out = pic(p.h, w);
      for (let y = 0; y < p.h; y++) {
        for (let xx = 0; xx < w; xx++) {
          const [x0, k] = cs[xx];
          let s = 0;
          for (let i = 0; i < k.length; i++) s += p.d[y * p.w + x0 + i] * k[i];
          out.d[y * w + xx] = s;
        }
      }
      cur = out;
    }
    if (h !== p.h) {
      const cs = coeffs(p.h, h, filter), out = pic(h, cur.w);
      for (let yy = 0; yy < h; yy++) {
        const [y0, k] = cs[yy];
        for (let x = 0; x < cur.w; x++) {
          let s = 0;
          for (let i = 0; i < k.length; i++) s += cur.d[(y0 + i) * cur.w + x] * k[i];
          out.d[yy * cur.w + x] = s;
        }
      }
      cur = out;
    }
    return cur === p ? pic(p.h, p.w, p.d.slice()) : cur;
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
  function along(p, axis, radius, mode, fn) {  // fn(values of the window) per pixel, one axis
    const out = { h: p.h, w: p.w, d: new p.d.constructor(p.h * p.w) }, k = 2 * radius + 1;
    const n = axis ? p.w : p.h, t = table(n, radius, mode), win = new Float64Array(k);
    for (let y = 0; y < p.h; y++) {
      for (let x = 0; x < p.w; x++) {
        const c = (axis ? x : y) * k;
        for (let j = 0; j < k; j++) win[j] = axis ? p.d[y * p.w + t[c + j]] : p.d[t[c + j] * p.w + x];
        out.d[y * p.w + x] = fn(win);
      }
    }
    return out;
  }
  function correlate(p, axis, w, mode) {  // ndimage.correlate1d with odd symmetric weights w
    const out = { h: p.h, w: p.w, d: new p.d.constructor(p.h * p.w) }, k = w.length, r = k >> 1;
    const n = axis ? p.w : p.h, t = table(n, r, mode), d = p.d, W = p.w;
    for (let y = 0; y < p.h; y++) {
      for (let x = 0; x < W; x++) {
        const c = (axis ? x : y) * k;
        let s = 0;
        if (axis) for (let j = 0; j < k; j++) s += d[y * W + t[c + j]] * w[j];
        else for (let j = 0; j < k; j++) s += d[t[c + j] * W + x] * w[j];
        out.d[y * W + x] = s;
      }
    }
    return out;
  }
  function gaussian(p, sigma, mode = "reflect") {
    const radius = Math.trunc(4 * sigma + 0.5), k = [];
    let sum = 0;
    for (let x = -radius; x <= radius; x++) { const v = Math.exp((-0.5 / (sigma * sigma)) * x * x); k.push(v); sum += v; }
    const w = Float64Array.from(k, (v) => v / sum);
    return correlate(correlate(p, 0, w, mode), 1, w, mode);
  }
  function uniform(p, size, mode) {
    const r = size >> 1, mean = (win) => { let s = 0; for (const v of win) s += v; return s / size; };
    return along(along(p, 0, r, mode, mean), 1, r, mode, mean);
  }
  const maxFilter3 = (p) => along(along(p, 0, 1, "reflect", maxOf), 1, 1, "reflect", maxOf);
  function rankFilter(p, size, rank, mode) {
    const out = pic(p.h, p.w), r = size >> 1, m = MODES[mode], win = new Float64Array(size * size);
    for (let y = 0; y < p.h; y++) {
      for (let x = 0; x < p.w; x++) {
        let n = 0;
        for (let dy = -r; dy <= r; dy++) for (let dx = -r; dx <= r; dx++) {
          win[n++] = p.d[m(y + dy, p.h) * p.w + m(x + dx, p.w)];
        }
        out.d[y * p.w + x] = win.sort()[rank];
      }
    }
    return out;
  }
  // binary masks: {h, w, d: Uint8Array}; structure = list of [dy, dx]; outside the picture is 0
  const CROSS = [[0, 0], [-1, 0], [1, 0], [0, -1], [0, 1]], NEIGHBOURS = CROSS.slice(1);
  const mask = (h, w, d) => ({ h, w, d: d || new Uint8Array(h * w) });
  function disk(r) {
    const s = [];
    for (let y = -r; y <= r; y++) for (let x = -r; x <= r; x++) if (x * x + y * y <= r * r + r) s.push([y, x]);
    return s;
  }
  function dilate(b, st = CROSS, iterations = 1) {
    for (let it = 0; it < iterations; it++) {
      const out = mask(b.h, b.w);
      for (let y = 0; y < b.h; y++) for (let x = 0; x < b.w; x++) {
        if (!b.d[y * b.w + x]) continue;
        for (const [dy, dx] of st) {
          const yy = y + dy, xx = x + dx;
          if (yy >= 0 && yy < b.h && xx >= 0 && xx < b.w) out.d[yy * b.w + xx] = 1;
        }
      }
      b = out;
    }
    return b;
  }
  function erode(b, iterations = 1) {  // cross structure, border value 0
    for (let it = 0; it < iterations; it++) {
      const out = mask(b.h, b.w);
      for (let y = 0; y < b.h; y++) for (let x = 0; x < b.w; x++) {
        out.d[y * b.w + x] = CROSS.every(([dy, dx]) => {
          const yy = y + dy, xx = x + dx;
          return yy >= 0 && yy < b.h && xx >= 0 && xx < b.w && b.d[yy * b.w + xx];
        }) ? 1 : 0;
      }
      b = out;
    }
    return b;
  }
  function label(b) {  // 4-connected parts numbered in raster order, as ndimage.label
    const lab = new Int32Array(b.h * b.w);
    let n = 0;
    for (let s = 0; s < lab.length; s++) {
      if (!b.d[s] || lab[s]) continue;
      lab[s] = ++n;
      const stack = [s];
      while (stack.length) {
        const i = stack.pop(), y = (i / b.w) | 0, x = i % b.w;
        for (const [dy, dx] of NEIGHBOURS) {
          const yy = y + dy, xx = x + dx, j = yy * b.w + xx;
          if (yy >= 0 && yy < b.h && xx >= 0 && xx < b.w && b.d[j] && !lab[j]) { lab[j] = n; stack.push(j); }
        }
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
  function edt(b) {  // exact Euclidean distance of each ink pixel to the nearest 0 (Felzenszwalb)
    const INF = 1e20, f = new Float64Array(b.h * b.w);
    for (let i = 0; i < f.length; i++) f[i] = b.d[i] ? INF : 0;
    const pass = (get, set, n) => {
      const v = new Int32Array(n), z = new Float64Array(n + 1), g = new Float64Array(n);
      for (let q = 0; q < n; q++) g[q] = get(q);
      let k = 0; v[0] = 0; z[0] = -INF; z[1] = INF;
      for (let q = 1; q < n; q++) {
        let s = ((g[q] + q * q) - (g[v[k]] + v[k] * v[k])) / (2 * q - 2 * v[k]);
        while (s <= z[k]) { k--; s = ((g[q] + q * q) - (g[v[k]] + v[k] * v[k])) / (2 * q - 2 * v[k]); }
        k++; v[k] = q; z[k] = s; z[k + 1] = INF;
      }
      k = 0;
      for (let q = 0; q < n; q++) { while (z[k + 1] < q) k++; set(q, (q - v[k]) * (q - v[k]) + g[v[k]]); }
    };
    for (let x = 0; x < b.w; x++) pass((q) => f[q * b.w + x], (q, val) => { f[q * b.w + x] = val; }, b.h);
    for (let y = 0; y < b.h; y++) pass((q) => f[y * b.w + q], (q, val) => { f[y * b.w + q] = val; }, b.w);
    return { h: b.h, w: b.w, d: f.map(Math.sqrt) };
  }

  // --- reading (explainer/reading/images.py) ------------------------------------------------
  function toGray(rgba, w, h) {  // an opaque canvas: ITU-R 601 luma; transparent: composited
    let g = pic(h, w), minA = 255;
    for (let i = 0; i < w * h; i++) {
      g.d[i] = (0.299 * rgba[4 * i] + 0.587 * rgba[4 * i + 1] + 0.114 * rgba[4 * i + 2]) / 255;
      minA = Math.min(minA, rgba[4 * i + 3]);
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
    for (const v of d) hist[Math.min(Math.max(Math.floor(v * bins), 0), bins - 1)]++;
    const total = hist.reduce((a, b) => a + b, 0) || 1;
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
    let rows = [], cols = [];
    for (let y = 0; y < m.h; y++) { let s = 0; for (let x = 0; x < m.w; x++) s += m.d[y * m.w + x]; rows.push(s / m.w >= 0.75); }
    for (let x = 0; x < m.w; x++) { let s = 0; for (let y = 0; y < m.h; y++) s += m.d[y * m.w + x]; cols.push(s / m.h >= 0.75); }
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
  function cleanBackground(ink) {
    const zeros = () => pic(ink.h, ink.w), level = backgroundLevel(ink), n = ink.h * ink.w;
    let flat = pic(ink.h, ink.w);
    for (let i = 0; i < n; i++) flat.d[i] = ink.d[i] - (typeof level === "number" ? level : level.d[i]);
    if (Math.min(ink.h, ink.w) >= 32) flat = gaussian(flat, Math.max(ink.h, ink.w) / 400 + 0.3);
    const paper = median(every2(flat));
    let steps;
    if (ink.w > 2) {
      const diff = pic(flat.h, flat.w - 2);
      for (let y = 0; y < flat.h; y++) for (let x = 0; x < flat.w - 2; x++) diff.d[y * diff.w + x] = flat.d[y * flat.w + x + 2] - flat.d[y * flat.w + x];
      steps = every2(diff);
    } else steps = every2(pic(Math.ceil(flat.h / 2), Math.ceil(flat.w / 2), Float32Array.from(every2(flat), (v) => v - paper)));
    for (let i = 0; i < steps.length; i++) steps[i] = Math.abs(steps[i]);
    const noise = (1.4826 * median(steps)) / Math.sqrt(2);
    flat = clip01(flat);
    const floor = Math.max(MIN_CONTRAST, 6 * noise);
    if (maxOf(flat.d) - paper < floor) return zeros();
    const t = otsu(flat.d);
    let m = mask(flat.h, flat.w);
    for (let i = 0; i < n; i++) m.d[i] = flat.d[i] > t ? 1 : 0;
    m = dropLines(m);
    const [lab, count] = label(m);
    if (count === 0) return zeros();
    if (count > 1) m = dropSpecks(m, lab, count);
    const inMask = [];
    for (let i = 0; i < n; i++) if (m.d[i]) inMask.push(flat.d[i]);
    const peak = inMask.length ? percentile(inMask, 90) : maxOf(flat.d);
    if (peak - paper < floor) return zeros();
    const low = 0.5 * t, near = dilate(m), out = zeros(), span = Math.max(peak - low, 1e-6);
    for (let i = 0; i < n; i++) {
      if (near.d[i]) out.d[i] = Math.min(Math.max((flat.d[i] - low) / span, 0), 1);
    }
    return out;
  }

  // --- geometry (explainer/reading/geometry.py) ---------------------------------------------
  function inkBbox(p, level = 0.05) {
    let t = p.h, l = p.w, b = -1, r = -1;
    for (let y = 0; y < p.h; y++) for (let x = 0; x < p.w; x++) {
      if (p.d[y * p.w + x] > level) { t = Math.min(t, y); l = Math.min(l, x); b = Math.max(b, y); r = Math.max(r, x); }
    }
    return b < 0 ? [0, 0, p.h, p.w] : [t, l, b + 1, r + 1];
  }
  function ridge(m) {
    const d = crop(edt(padMask(m)), 1, 1, m.h + 1, m.w + 1), mx = maxFilter3(d);
    return [d, mask(m.h, m.w, m.d.map((v, i) => (v && d.d[i] >= mx.d[i] - 0.5 ? 1 : 0)))];
  }
  function padMask(m) {
    const out = mask(m.h + 2, m.w + 2);
    for (let y = 0; y < m.h; y++) out.d.set(m.d.subarray(y * m.w, (y + 1) * m.w), (y + 1) * out.w + 1);
    return out;
  }
  function strokeWidth(img, level = 0.5) {
    const up = Math.max(1, Math.ceil(STROKE_WORK / Math.max(img.h, img.w)));
    if (up > 1) img = resize(img, img.h * up, img.w * up, "bilinear");
    const m = mask(img.h, img.w, img.d.map((v) => (v > level ? 1 : 0)));
    if (!m.d.some(Boolean)) return 0;
    const [d, r] = ridge(m);
    return (2 * median(d.d.filter((_, i) => r.d[i])) - 1) / up;
  }
  const boxStrokeWidth = (c) => strokeWidth(fitBox(c, BOX));
  function greyMorph(p, r, fn) {  // grey dilation (max) or erosion (min) with disk(r)
    // each row's min/max over any run of columns in O(1), from a table over runs of 2^k
    const W = p.w, levels = [p.d];
    for (let len = 2; len <= W; len *= 2) {
      const prev = levels[levels.length - 1], next = new Float32Array(p.h * W), half = len / 2;
      for (let y = 0; y < p.h; y++) {
        for (let x = 0; x + len <= W; x++) next[y * W + x] = fn(prev[y * W + x], prev[y * W + x + half]);
      }
      levels.push(next);
    }
    const run = (y, a, b) => {  // fn over row y, columns a..b (inclusive)
      const k = 31 - Math.clz32(b - a + 1), t = levels[k];
      return fn(t[y * W + a], t[y * W + b - (1 << k) + 1]);
    };
    const out = pic(p.h, W), reach = [];
    for (let dy = -r; dy <= r; dy++) reach.push(Math.floor(Math.sqrt(r * r + r - dy * dy)));
    for (let y = 0; y < p.h; y++) {
      for (let x = 0; x < W; x++) {
        let acc = fn === Math.max ? -Infinity : Infinity;
        for (let dy = -r; dy <= r; dy++) {
          const yy = y + dy, hw = reach[dy + r];
          if (yy >= 0 && yy < p.h) acc = fn(acc, run(yy, Math.max(x - hw, 0), Math.min(x + hw, W - 1)));
        }
        out.d[y * W + x] = acc;
      }
    }
    return out;
  }
  function normaliseStroke(c, width) {
    if (width <= 0 || (width >= STROKE_LO && width <= STROKE_HI)) return c;
    const scale = STROKE_WORK / Math.max(c.h, c.w);
    const h = Math.max(1, pyRound(c.h * scale)), w = Math.max(1, pyRound(c.w * scale));
    const perPx = STROKE_WORK / BOX, change = ((TARGET_STROKE - width) * perPx) / 2;
    const r = Math.max(1, pyRound(Math.abs(change)));
    const work = pad(clip01(resize(c, h, w, scale < 1 ? "box" : "bilinear")), r);
    if (change > 0) return greyMorph(work, r, Math.max);
    const core = greyMorph(work, r, Math.min), keep = pyRound((TARGET_STROKE * perPx) / 2);
    const inked = mask(work.h, work.w, work.d.map((v) => (v > 0.5 ? 1 : 0)));
    const spineMask = dilate(ridge(inked)[1], disk(keep));
    const spine = gaussian(pic(work.h, work.w, Float32Array.from(spineMask.d, (v, i) => v & inked.d[i])), 0.7);
    return clip01(pic(work.h, work.w, core.d.map((v, i) => Math.max(v, spine.d[i]))));
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
