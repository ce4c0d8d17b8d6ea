// The detector's pipeline as the Python library runs it, for the private page: no DOM, no network.
// Each function names its Python counterpart; tests/test_private_page.py checks boxes and scores against Python.

// Python's round(): halves to even (crop corners often land on .5, and a pixel matters for parity).
export function roundHalfEven(v) {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

// ---------------------------------------------------------------------------------------- faces (detector/faces.py)
export function boxIou(a, b) {
  const iw = Math.max(0, Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]));
  const ih = Math.max(0, Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]));
  const inter = iw * ih;
  const union = a[2] * a[3] + b[2] * b[3] - inter;
  return union > 0 ? inter / union : 0;
}

function contained(a, b) {
  const iw = Math.max(0, Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]));
  const ih = Math.max(0, Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]));
  const smaller = Math.min(a[2] * a[3], b[2] * b[3]);
  return smaller > 0 ? (iw * ih) / smaller : 0;
}

function distinct(face, others, rules) {
  return others.every((k) => boxIou(face.box, k.box) < rules.merge_iou &&
                             contained(face.box, k.box) < rules.merge_contained);
}

// merge_detections: greedy by confidence, also dropping boxes mostly inside a kept one; then left to right.
export function mergeDetections(faces, rules) {
  const kept = [];
  for (const face of [...faces].sort((a, b) => b.confidence - a.confidence)) {
    if (distinct(face, kept, rules)) kept.push(face);
  }
  return kept.sort((a, b) => a.box[0] - b.box[0] || a.box[1] - b.box[1]);
}

// reading_order: rows top to bottom, left to right within a row.
export function readingOrder(faces) {
  const rows = [];
  for (const face of [...faces].sort((a, b) => (a.box[1] + a.box[3] / 2) - (b.box[1] + b.box[3] / 2))) {
    const centre = face.box[1] + face.box[3] / 2;
    if (rows.length) {
      const first = rows[rows.length - 1][0];
      if (centre - (first.box[1] + first.box[3] / 2) < first.box[3] / 2) {
        rows[rows.length - 1].push(face);
        continue;
      }
    }
    rows.push([face]);
  }
  return rows.flatMap((row) => row.sort((a, b) => a.box[0] - b.box[0]));
}

// FaceFinder._run: one detector's boxes in full-range geometry, offset into the whole image.
export function toFaces(detections, kind, rules, offset = [0, 0]) {
  const faces = [];
  for (const det of detections) {
    const bb = det.boundingBox;
    let [x, y, w, h] = [bb.originX, bb.originY, bb.width, bb.height];
    if (kind === 'short') {
      const cx = x + w / 2;
      const cy = y + h / 2;
      w *= rules.short_to_full_scale;
      h *= rules.short_to_full_scale;
      x = cx - w / 2;
      y = cy - h / 2;
    }
    const score = det.categories && det.categories.length ? det.categories[0].score : 0;
    faces.push({box: [roundHalfEven(x) + offset[0], roundHalfEven(y) + offset[1], roundHalfEven(w),
                      roundHalfEven(h)], confidence: score});
  }
  return faces;
}

// FaceFinder._tiles: where the overlapping tiles of a large image sit ([x0, y0, side]).
export function tileOrigins(w, h) {
  const tile = Math.max(384, Math.floor(Math.min(h, w) / 2));
  const step = Math.floor(tile * 0.75);
  const out = [];
  for (let y0 = 0; y0 < Math.max(1, h - tile + step); y0 += step) {
    for (let x0 = 0; x0 < Math.max(1, w - tile + step); x0 += step) {
      out.push([Math.min(x0, Math.max(0, w - tile)), Math.min(y0, Math.max(0, h - tile)), tile]);
    }
  }
  return out;
}

// A tile's detections that FaceFinder keeps: whole faces, clearly detected.
export function keepTileFaces(faces, x0, y0, tw, th, rules) {
  const need = Math.min(0.95, rules.min_confidence + rules.tile_extra_confidence);
  return faces.filter((f) => {
    const [x, y, bw, bh] = f.box;
    return x > x0 && y > y0 && x + bw < x0 + tw && y + bh < y0 + th && f.confidence >= need;
  });
}

// FaceFinder.detect, given each pass's faces: full range (+ tiles) merged, short range adding only missed faces.
export function combineDetections(primary, extra, rules) {
  const merged = mergeDetections(primary, rules);
  const added = extra.filter((f) => distinct(f, merged, rules));
  const faces = merged.concat(added).filter((f) => f.box[2] >= rules.min_box && f.box[3] >= rules.min_box);
  return mergeDetections(faces, rules);
}

// Detector._faces_of: the most confident max_faces, numbered in reading order.
export function chooseFaces(found, maxFaces) {
  const keep = [...found].sort((a, b) => b.confidence - a.confidence).slice(0, maxFaces);
  return {faces: readingOrder(keep), dropped: found.length - keep.length};
}

// ------------------------------------------------------------------------------------------------------- crops
// crop_box: the square [x0, y0, side] the model sees for a detector box.
export function cropBox(box, pre) {
  const [x, y, w, h] = box;
  const base = Math.max(w, h);
  const side = Math.max(2, roundHalfEven(base * pre.crop_margin));
  const cx = x + w / 2;
  const cy = y + h / 2 + pre.crop_shift_y * base;
  return [roundHalfEven(cx - side / 2), roundHalfEven(cy - side / 2), side];
}

// crop_square: the square the model sees in a width x height photo: cropBox, or with pre.crop_inside and a square
// that runs past the edge, that square shrunk to the photo's shorter side when larger and moved inside the photo.
export function cropSquare(box, pre, width, height) {
  const [x0, y0, side] = cropBox(box, pre);
  if (!pre.crop_inside || cropInside([x0, y0, side], width, height)) return [x0, y0, side];
  const fit = Math.max(1, Math.min(side, width, height));
  const half = Math.floor((side - fit) / 2);
  return [Math.min(Math.max(x0 + half, 0), width - fit), Math.min(Math.max(y0 + half, 0), height - fit), fit];
}

// crop_inside: whether the square [x0, y0, side] lies wholly inside a width x height image (else the face is cut
// by the edge, and at_edge is true).
export function cropInside(square, width, height) {
  const [x0, y0, side] = square;
  return x0 >= 0 && y0 >= 0 && x0 + side <= width && y0 + side <= height;
}

// deciding_faces: the faces whose scores decide a photo (those seen whole; every face when none was), and the
// index of the most suspicious of them (ImageResult.top_face), -1 without faces.
export function decidingFaces(faces) {
  const whole = faces.filter((f) => !f.at_edge);
  const deciding = whole.length ? whole : faces;
  let top = -1;
  for (const f of deciding) {
    if (top < 0 || f.score > faces[top].score) top = faces.indexOf(f);
  }
  return {deciding, top};
}

// An RGB image: {data: Uint8Array (H*W*3), width, height}. From RGBA pixels (alpha already composited).
export function rgbOf(rgba, width, height) {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < data.length; i += 3, j += 4) {
    data[i] = rgba[j];
    data[i + 1] = rgba[j + 1];
    data[i + 2] = rgba[j + 2];
  }
  return {data, width, height};
}

// The square region [x0, y0, side] of an RGB image, zero where it leaves the image.
export function region(img, x0, y0, side) {
  const out = new Uint8Array(side * side * 3);
  const sx0 = Math.max(0, x0);
  const sy0 = Math.max(0, y0);
  const sx1 = Math.min(img.width, x0 + side);
  const sy1 = Math.min(img.height, y0 + side);
  if (sx1 > sx0 && sy1 > sy0) {
    for (let y = sy0; y < sy1; y++) {
      const src = (y * img.width + sx0) * 3;
      out.set(img.data.subarray(src, src + (sx1 - sx0) * 3), ((y - y0) * side + (sx0 - x0)) * 3);
    }
  }
  return out;
}

// OpenCV's INTER_AREA weights for one axis (float32, as OpenCV stores them): for each output pixel, [source index,
// weight] pairs.
function areaTable(ssize, dsize) {
  const scale = 1 / (dsize / ssize);
  const table = [];
  for (let dx = 0; dx < dsize; dx++) {
    const fsx1 = dx * scale;
    const fsx2 = fsx1 + scale;
    const cell = Math.min(scale, ssize - fsx1);
    let sx1 = Math.ceil(fsx1);
    let sx2 = Math.floor(fsx2);
    sx2 = Math.min(sx2, ssize - 1);
    sx1 = Math.min(sx1, sx2);
    const row = [];
    if (sx1 - fsx1 > 1e-3) row.push([sx1 - 1, Math.fround((sx1 - fsx1) / cell)]);
    for (let sx = sx1; sx < sx2; sx++) row.push([sx, Math.fround(1 / cell)]);
    if (fsx2 - sx2 > 1e-3) row.push([sx2, Math.fround(Math.min(Math.min(fsx2 - sx2, 1), cell) / cell)]);
    table.push(row);
  }
  return table;
}

// OpenCV's INTER_LINEAR for 8-bit images, bit for bit: sample positions with half-pixel centres (clamped at the
// borders) computed in float32, and 11-bit fixed-point weights ([index, weight0, weight1] per output pixel).
// Columns are clamped; rows are not (OpenCV clips the row index instead, which rounds differently at the borders).
function linearTable(ssize, dsize, clamp) {
  const scale = 1 / (dsize / ssize);
  const table = [];
  for (let dx = 0; dx < dsize; dx++) {
    let fx = Math.fround((dx + 0.5) * scale - 0.5);
    let sx = Math.floor(fx);
    fx = Math.fround(fx - sx);
    if (clamp && sx < 0) { fx = 0; sx = 0; }
    if (clamp && sx >= ssize - 1) { fx = 0; sx = ssize - 1; }
    table.push([sx, roundHalfEven(Math.fround(1 - fx) * 2048), roundHalfEven(fx * 2048)]);
  }
  return table;
}

// resize_square: side x side RGB -> size x size, area averaging when shrinking, bilinear when enlarging.
export function resizeSquare(src, side, size) {
  if (side === size) return src;
  const out = new Uint8Array(size * size * 3);
  if (side === 2 * size) {  // OpenCV's fast path for halving: the 2x2 mean, halves rounded up
    for (let dy = 0; dy < size; dy++) {
      for (let dx = 0; dx < size; dx++) {
        for (let c = 0; c < 3; c++) {
          const i = (2 * dy * side + 2 * dx) * 3 + c;
          out[(dy * size + dx) * 3 + c] = (src[i] + src[i + 3] + src[i + side * 3] + src[i + side * 3 + 3] + 2) >> 2;
        }
      }
    }
    return out;
  }
  if (side > size) {
    // OpenCV's general area resize, in float32 and in its order of operations: each source row summed across, then
    // rows weighted into the output row
    const f = Math.fround;
    const tab = areaTable(side, size);
    const buf = new Float32Array(size * 3);
    const sum = new Float32Array(size * 3);
    for (let dy = 0; dy < size; dy++) {
      sum.fill(0);
      tab[dy].forEach(([sy, beta], k) => {
        buf.fill(0);
        for (let dx = 0; dx < size; dx++) {
          for (const [sx, alpha] of tab[dx]) {
            const i = (sy * side + sx) * 3;
            const o = dx * 3;
            buf[o] = f(buf[o] + f(src[i] * alpha));
            buf[o + 1] = f(buf[o + 1] + f(src[i + 1] * alpha));
            buf[o + 2] = f(buf[o + 2] + f(src[i + 2] * alpha));
          }
        }
        for (let i = 0; i < size * 3; i++) sum[i] = k === 0 ? f(beta * buf[i]) : f(sum[i] + f(beta * buf[i]));
      });
      for (let i = 0; i < size * 3; i++) out[dy * size * 3 + i] = Math.min(255, Math.max(0, roundHalfEven(sum[i])));
    }
    return out;
  }
  const tab = linearTable(side, size, true);
  const rowTab = linearTable(side, size, false);
  // horizontal pass in integers (value x 2048), then the vertical pass as OpenCV's SIMD code rounds it
  const rows = new Int32Array(side * size * 3);
  for (let y = 0; y < side; y++) {
    for (let dx = 0; dx < size; dx++) {
      const [sx, a0, a1] = tab[dx];
      const sx1 = Math.min(sx + 1, side - 1);
      for (let c = 0; c < 3; c++) {
        rows[(y * size + dx) * 3 + c] = src[(y * side + sx) * 3 + c] * a0 + src[(y * side + sx1) * 3 + c] * a1;
      }
    }
  }
  for (let dy = 0; dy < size; dy++) {
    const [y, b0, b1] = rowTab[dy];
    const sy = Math.min(Math.max(y, 0), side - 1);
    const sy1 = Math.min(Math.max(y + 1, 0), side - 1);
    for (let i = 0; i < size * 3; i++) {
      const d0 = rows[sy * size * 3 + i] >> 4;
      const d1 = rows[sy1 * size * 3 + i] >> 4;
      const v = (((b0 * d0) >> 16) + ((b1 * d1) >> 16) + 2) >> 2;
      out[dy * size * 3 + i] = Math.min(255, Math.max(0, v));
    }
  }
  return out;
}

// crop_face: the model's input for one face (size x size RGB).
export function cropFace(img, box, pre) {
  const [x0, y0, side] = cropSquare(box, pre, img.width, img.height);
  return resizeSquare(region(img, x0, y0, side), side, pre.img_size);
}

// whole_image_input: the whole image centred on a black square, resized (an already-cropped face).
export function wholeImageInput(img, size) {
  const side = Math.max(img.width, img.height);
  const x0 = Math.floor((side - img.width) / 2);
  const y0 = Math.floor((side - img.height) / 2);
  return resizeSquare(region(img, -x0, -y0, side), side, size);
}

// Runtime.to_tensor: N crops -> NCHW float32, scaled to [0,1] then normalised as the checkpoint's preprocessing says.
export function toTensor(crops, pre) {
  const s = pre.img_size;
  const plane = s * s;
  const out = new Float32Array(crops.length * 3 * plane);
  crops.forEach((crop, n) => {
    for (let c = 0; c < 3; c++) {
      const mean = pre.mean[c];
      const std = pre.std[c];
      const base = (n * 3 + c) * plane;
      for (let i = 0; i < plane; i++) out[base + i] = (crop[i * 3 + c] / 255 - mean) / std;
    }
  });
  return out;
}

export function sigmoid(x) {
  return 1 / (1 + Math.exp(-x));
}

// ---------------------------------------------------------------------------------- decision (detector/decision.py)
export class Decision {
  constructor(threshold, band, classNames) {
    this.threshold = threshold;
    this.band = band || null;
    this.classNames = classNames || ['real', 'fake'];
  }

  // the checkpoint's per-face decision, or (clip) the one a person's aggregated score in a video is judged by
  static fromConfig(pre, clip = false) {
    if (clip && (pre.video_threshold != null || pre.video_uncertain_band != null)) {
      const t = pre.video_threshold != null ? pre.video_threshold : pre.threshold;
      return new Decision(t, pre.video_uncertain_band, pre.class_names);
    }
    return new Decision(pre.threshold, pre.uncertain_band, pre.class_names);
  }

  kind(score) {
    if (score === null || score === undefined) return 'no face';
    if (this.band && this.band[0] <= score && score < this.band[1]) return 'uncertain';
    return score >= this.threshold ? 'fake' : 'real';
  }

  label(score) {
    const kind = this.kind(score);
    if (kind === 'fake') return this.classNames[1];
    if (kind === 'real') return this.classNames[0];
    return kind;
  }
}

// ---------------------------------------------------------------------------------------- video (detector/video.py)
function near(a, b) {
  const ca = [a[0] + a[2] / 2, a[1] + a[3] / 2];
  const cb = [b[0] + b[2] / 2, b[1] + b[3] / 2];
  return Math.hypot(ca[0] - cb[0], ca[1] - cb[1]) < 0.5 * Math.max(a[2], a[3], b[2], b[3]);
}

// match_boxes: which current box continues which previous one ({current: previous}).
export function matchBoxes(previous, current, minIou) {
  const candidates = [];
  previous.forEach((p, pi) => current.forEach((c, ci) => candidates.push([boxIou(p, c), pi, ci])));
  candidates.sort((a, b) => b[0] - a[0] || b[1] - a[1] || b[2] - a[2]);
  const matched = new Map();
  const used = new Set();
  for (const [overlap, pi, ci] of candidates) {
    if (matched.has(ci) || used.has(pi)) continue;
    if (overlap >= minIou || near(previous[pi], current[ci])) {
      matched.set(ci, pi);
      used.add(pi);
    }
  }
  return matched;
}

// link_tracks + is_person: frames [{index, time, faces: [{box, score, crop}]}] -> persons.
export function persons(frames, rules) {
  const tracks = [];
  for (const frame of frames) {
    const matched = matchBoxes(tracks.map((t) => t.boxes[t.boxes.length - 1]), frame.faces.map((f) => f.box),
                               rules.link_min_iou);
    frame.faces.forEach((face, fi) => {
      const entry = {time: frame.time, score: face.score, crop: face.crop};
      if (matched.has(fi)) {
        const track = tracks[matched.get(fi)];
        track.boxes.push(face.box);
        track.frames.push(entry);
      } else {
        tracks.push({boxes: [face.box], frames: [entry]});
      }
    });
  }
  const longest = Math.max(0, ...tracks.map((t) => t.frames.length));
  const n = frames.length;
  const need = Math.max(Math.min(rules.person_min_frames, n), Math.ceil(rules.person_min_share * n));
  const kept = tracks.filter((t) => t.frames.length >= longest || t.frames.length >= need);
  return {persons: kept.map((t, i) => ({id: i + 1, ...t})), dropped: tracks.length - kept.length};
}

// aggregate: a person's score from their per-frame P(fake).
export function aggregate(scores, rule) {
  const arr = [...scores];
  const mean = (a) => a.reduce((s, v) => s + v, 0) / a.length;
  if (rule === 'max') return Math.max(...arr);
  if (rule === 'median') {
    const s = arr.sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
  }
  if (rule === 'top25') {
    const s = arr.sort((a, b) => a - b);
    return mean(s.slice(s.length - Math.max(1, Math.ceil(s.length / 4))));
  }
  if (rule === 'confident') {
    const n = arr.length;
    const fake = arr.filter((v) => v > 0.8);
    const real = arr.filter((v) => v < 0.2);
    if (fake.length > n / 2.5 && fake.length > (11 * n) / 32) return mean(fake);
    if (real.length > 0.9 * n) return mean(real);
  }
  return mean(arr);
}

// sample_indices over time: n instants spread evenly from the first to the last frame.
export function sampleTimes(duration, n, fps = 25) {
  const last = Math.max(0, duration - 1 / fps);
  if (n <= 1) return [0];
  return Array.from({length: n}, (_, i) => (last * i) / (n - 1));
}
