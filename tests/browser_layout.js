// Layout faults of the page in the browser, as one line each (tests/test_browser.py):
//  - clipped: a text element whose content is wider than its box (scrollWidth > clientWidth),
//    which is how an ellipsis ("Draw & p…") or a word running out of its box shows;
//  - cut: text that sticks out of an ancestor that hides or scrolls its overflow (the
//    sidebar, a chart's SVG) or runs out of its column (under the next one), or a chart label
//    Vega truncated with "…"; a box that scrolls sideways (a table's last columns hidden);
//  - overlap: the glyph boxes of two text elements (neither inside the other) intersect;
//  - broken: a word (letters and digits) laid out on two lines, "inve / rted";
//  - outside: a number of a chart's text layer that sticks out of the cell (rect) it is in;
//  - an input whose value, or if empty its placeholder, is wider than its box (clipped);
//  - ellipsis: text cut with "…" by CSS (text-overflow, a line clamp) with more text than
//    room, or shortened in the page itself (a word followed by "…" or "...");
//  - small: text in the main area or the sidebar drawn under 14 px (SVG: font size × scale).
// Text is every visible non-blank text node; its boxes are the Range's client rects for HTML,
// and for SVG text (Vega charts) its bounding box turned by its transform (rotated axis
// labels are quadrilaterals, so two slanted neighbours that do not touch do not count).
() => {
  const SLACK = 1.5; // px: anti-aliasing and sub-pixel rounding
  const COLUMNS = '[data-testid="stColumn"], [data-testid="stMainBlockContainer"], ' +
    '[data-testid="stSidebarUserContent"]';
  // a text box is its font's full height: the glyphs leave about a fifth of it blank, so a
  // box may stick out (or two may meet) by that much before any ink is cut or covered
  const slack = (q) => Math.max(SLACK, 0.2 * Math.hypot(q[3][0] - q[0][0], q[3][1] - q[0][1]));
  const quadOf = (r) => [
    [r.left, r.top],
    [r.right, r.top],
    [r.right, r.bottom],
    [r.left, r.bottom],
  ];
  const svgQuad = (el) => {
    const b = el.getBBox();
    const m = el.getScreenCTM();
    if (!m || b.width < 0.5 || b.height < 0.5) return null;
    const pts = [
      [b.x, b.y],
      [b.x + b.width, b.y],
      [b.x + b.width, b.y + b.height],
      [b.x, b.y + b.height],
    ];
    return pts.map(([x, y]) => [m.a * x + m.c * y + m.e, m.b * x + m.d * y + m.f]);
  };
  const items = new Map(); // element -> list of quads
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (!n.nodeValue.trim()) continue;
    let el = n.parentElement;
    if (!el || el.closest('script, style, noscript, title, [data-testid="stSkipToContent"]'))
      continue;
    if (!el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true })) continue;
    const own = el.getBoundingClientRect(); // a 1-px box: text for screen readers only
    if (own.width <= 1 || own.height <= 1) continue;
    let quads;
    if (el instanceof SVGElement) {
      el = el.closest("text") || el;
      if (items.has(el) || typeof el.getBBox !== "function") continue;
      const q = svgQuad(el);
      quads = q ? [q] : [];
    } else {
      const range = document.createRange();
      range.selectNodeContents(n);
      quads = Array.from(range.getClientRects())
        .filter((r) => r.width > 0.5 && r.height > 0.5)
        .map(quadOf);
    }
    if (!quads.length) continue;
    if (!items.has(el)) items.set(el, []);
    items.get(el).push(...quads);
  }
  const text = (el) => (el.textContent || "").trim().replace(/\s+/g, " ").slice(0, 60);
  const where = (el) => {
    const t = el.closest("[data-testid]");
    return el.tagName.toLowerCase() + (t ? "@" + t.dataset.testid : "");
  };
  const faults = [];
  for (const [el, quads] of items) {
    const icon = el.closest('[data-testid="stIconMaterial"]'); // a ligature: one glyph
    const style = getComputedStyle(el);
    if (
      !icon &&
      el instanceof HTMLElement &&
      style.display !== "inline" &&
      el.clientWidth > 0 &&
      el.scrollWidth > el.clientWidth + 1
    ) {
      faults.push(
        `clipped: "${text(el)}" (${where(el)}): scrollWidth ${el.scrollWidth} > clientWidth ${el.clientWidth}`
      );
      continue;
    }
    if (el instanceof SVGElement && el.textContent.trim().endsWith("…")) {
      faults.push(`cut: "${text(el)}" (${where(el)}): a chart label truncated with "…"`);
      continue;
    }
    // vertically, only up to the first scroll container: what lies below the fold of the
    // page (or of the sidebar) is scrolled to, not cut
    let scrolledY = false;
    for (let a = el.parentElement; a && a !== document.documentElement; a = a.parentElement) {
      const s = getComputedStyle(a);
      // a column, the page or the sidebar: text running out of it lies under its neighbour
      const clipX = s.overflowX !== "visible" || a.matches(COLUMNS);
      const clipY = !scrolledY && (s.overflowY === "hidden" || s.overflowY === "clip");
      scrolledY = scrolledY || s.overflowY === "auto" || s.overflowY === "scroll";
      if (!clipX && !clipY) continue;
      const b = a.getBoundingClientRect();
      const left = b.left + (a.clientLeft || 0);
      const top = b.top + (a.clientTop || 0);
      const right = left + (a.clientWidth || b.width);
      const bottom = top + (a.clientHeight || b.height);
      const out = quads.some((q) => {
        const tol = slack(q);
        return q.some(
          ([x, y]) =>
            (clipX && (x < left - tol || x > right + tol)) ||
            (clipY && (y < top - tol || y > bottom + tol))
        );
      });
      if (out) {
        faults.push(
          `cut: "${text(el)}" (${where(el)}) sticks out of ${where(a)} ` +
            `[${Math.round(left)}..${Math.round(right)} × ${Math.round(top)}..${Math.round(bottom)}]`
        );
        break;
      }
    }
  }
  // a box that scrolls sideways hides part of what it holds (a table's last columns)
  for (const el of document.querySelectorAll("body *")) {
    const ox = getComputedStyle(el).overflowX;
    if ((ox === "auto" || ox === "scroll") && el.clientWidth > 0 &&
        el.scrollWidth > el.clientWidth + 1 && el.checkVisibility())
      faults.push(`cut: ${where(el)} scrolls sideways (${el.scrollWidth} px in ${el.clientWidth})`);
  }
  // overlap: separating-axis test on convex quadrilaterals, with SLACK px of tolerance
  const project = (q, ax) => {
    let lo = Infinity;
    let hi = -Infinity;
    for (const [x, y] of q) {
      const v = x * ax[0] + y * ax[1];
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    return [lo, hi];
  };
  const axes = (q) =>
    q.slice(0, 2).map(([x0, y0], i) => {
      const [x1, y1] = q[i + 1];
      const len = Math.hypot(x1 - x0, y1 - y0) || 1;
      return [-(y1 - y0) / len, (x1 - x0) / len];
    });
  const hit = (p, q) => {
    const tol = Math.min(slack(p), slack(q));
    for (const ax of [...axes(p), ...axes(q)]) {
      const [a0, a1] = project(p, ax);
      const [b0, b1] = project(q, ax);
      if (Math.min(a1, b1) - Math.max(a0, b0) <= tol) return false;
    }
    return true;
  };
  const bounds = (qs) => {
    const xs = qs.flat().map((p) => p[0]);
    const ys = qs.flat().map((p) => p[1]);
    return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
  };
  const list = Array.from(items, ([el, qs]) => ({ el, qs, box: bounds(qs) }));
  list.sort((a, b) => a.box[1] - b.box[1]);
  for (let i = 0; i < list.length; i++) {
    const A = list[i];
    for (let j = i + 1; j < list.length && list[j].box[1] < A.box[3]; j++) {
      const B = list[j];
      if (B.box[0] >= A.box[2] || A.box[0] >= B.box[2]) continue;
      if (A.el.contains(B.el) || B.el.contains(A.el)) continue;
      if (A.qs.some((p) => B.qs.some((q) => hit(p, q))))
        faults.push(`overlap: "${text(A.el)}" (${where(A.el)}) and "${text(B.el)}" (${where(B.el)})`);
    }
  }
  // a word split over two lines: the client rects of its own range sit on different lines
  const words = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = words.nextNode(); n; n = words.nextNode()) {
    const el = n.parentElement;
    if (!el || el instanceof SVGElement || !n.nodeValue.trim()) continue;
    if (el.closest('script, style, noscript, title, [data-testid="stIconMaterial"]')) continue;
    if (!el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true })) continue;
    for (const m of n.nodeValue.matchAll(/[\p{L}\p{N}]{2,}/gu)) {
      const range = document.createRange();
      range.setStart(n, m.index);
      range.setEnd(n, m.index + m[0].length);
      const tops = Array.from(range.getClientRects())
        .filter((r) => r.width > 0.5 && r.height > 0.5)
        .map((r) => r.top);
      if (tops.length > 1 && Math.max(...tops) - Math.min(...tops) > 2) {
        faults.push(`broken: "${m[0]}" split over two lines in "${text(el)}" (${where(el)})`);
        break;
      }
    }
  }
  // an ellipsis: a box that cuts its text with CSS (text-overflow or a line clamp) and has
  // more text than room, or text shortened in the page itself ("…every la", "bn_cnn · 9…")
  const FOOTER = '[data-testid="stToolbar"], [data-testid="stHeader"], [data-testid="stStatusWidget"]';
  for (const [el] of items) {
    if (!(el instanceof HTMLElement) || el.closest(FOOTER)) continue;
    for (let a = el, up = 0; a && up < 4; a = a.parentElement, up++) {
      const s = getComputedStyle(a);
      const clamp = s.webkitLineClamp && s.webkitLineClamp !== "none";
      const wide = s.textOverflow === "ellipsis" && a.scrollWidth > a.clientWidth + 1;
      const tall = clamp && a.scrollHeight > a.clientHeight + 1;
      if (a.clientWidth > 0 && (wide || tall)) {
        faults.push(`ellipsis: "${text(el)}" (${where(el)}) is cut by ${where(a)} with "…"`);
        break;
      }
    }
    for (const n of el.childNodes)
      if (n.nodeType === 3 && /[\p{L}\p{N}_](…|\.\.\.)(\s|$)/u.test(n.nodeValue.trim() + " ")
          && !/^(Running|Loading|Preparing|Computing|Training)\b/.test(n.nodeValue.trim()))
        faults.push(`ellipsis: "${text(el)}" (${where(el)}) is text cut short with "…"`);
  }
  // small type: text a learner reads in the page or the sidebar under 14 px as it is drawn
  // (an SVG chart's font size times its scale on screen)
  const READ = '[data-testid="stMain"], [data-testid="stSidebar"]';
  for (const [el] of items) {
    if (!el.closest(READ) || el.closest(FOOTER)) continue;
    let px = parseFloat(getComputedStyle(el).fontSize);
    if (el instanceof SVGElement) {
      const m = el.getScreenCTM();
      if (m) px *= Math.hypot(m.a, m.b);
    }
    if (px < 14 - 0.05)
      faults.push(`small: "${text(el)}" (${where(el)}) is ${px.toFixed(1)} px (< 14)`);
  }
  // an input's text wider than the box it is written in: an empty input's placeholder ("its
  // ow"), a select's value (Streamlit shows the chosen option in an <input>: "bn_cnn · 9")
  const ruler = document.createElement("canvas").getContext("2d");
  for (const input of document.querySelectorAll("input")) {
    if (!input.checkVisibility() || !/^(text|number|search|)$/.test(input.type)) continue;
    const [kind, text] = input.value ? ["value", input.value] : ["placeholder", input.placeholder];
    if (!text) continue;
    const s = getComputedStyle(input);
    ruler.font = `${s.fontStyle} ${s.fontWeight} ${s.fontSize} ${s.fontFamily}`;
    const room = input.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight);
    const need = ruler.measureText(text).width;
    if (need > room + SLACK)
      faults.push(`clipped: ${kind} "${text}" needs ${Math.round(need)} px in ${Math.round(room)} px (${where(input)})`);
  }
  // a chart's number outside its cell: text marks against the rect marks they sit on
  for (const svg of document.querySelectorAll("svg")) {
    const cells = Array.from(svg.querySelectorAll(".mark-rect path"))
      .map((p) => p.getBoundingClientRect())
      .filter((r) => r.width > 2 && r.height > 2);
    if (!cells.length) continue;
    for (const t of svg.querySelectorAll(".mark-text text")) {
      if (!t.textContent.trim()) continue;
      const b = t.getBoundingClientRect();
      const cx = (b.left + b.right) / 2;
      const cy = (b.top + b.bottom) / 2;
      const cell = cells.find((r) => r.left <= cx && cx <= r.right && r.top <= cy && cy <= r.bottom);
      if (cell && (b.left < cell.left - SLACK || b.right > cell.right + SLACK))
        faults.push(
          `outside: "${t.textContent.trim()}" (${Math.round(b.width)} px) is wider than its ` +
            `cell (${Math.round(cell.width)} px)`
        );
    }
  }
  return faults;
};
