// The private page: find, crop and score every face inside the browser. Nothing is uploaded.
// The pipeline (pipeline.js) follows the Python library step by step; the look is the app's (verdict.css).
import * as P from './pipeline.js';

const MAX_PIXELS = 50_000_000;  // the app's limits (README, "Limits")
const MAX_FACES = 64;
const EDGE_NOTE = "Cut by the photo's edge: shown, but not counted in the photo's verdict.";  // app.py's
const MAX_DURATION_S = 600;
const BATCH = 16;
const EVIDENCE_PER_PERSON = 2;

// ------------------------------------------------------------------------- nothing leaves the device
// Every request this page (or a library it loads) makes goes through here: only GETs of this origin's own files
// pass. MediaPipe's bundle, for one, would otherwise post usage logs to a Google server.
const refused = [];
function allowed(url, method) {
  const u = new URL(url, location.href);
  const local = u.origin === location.origin || u.protocol === 'blob:' || u.protocol === 'data:';
  return local && (method || 'GET').toUpperCase() === 'GET';
}
const nativeFetch = globalThis.fetch.bind(globalThis);
globalThis.fetch = (input, init) => {
  const url = typeof input === 'string' || input instanceof URL ? String(input) : input.url;
  const method = (init && init.method) || (input instanceof Request ? input.method : 'GET');
  if (!allowed(url, method)) {
    refused.push(`${method} ${url}`);
    return Promise.reject(new TypeError('private mode: this page sends nothing off the device'));
  }
  return nativeFetch(input, init);
};
const nativeOpen = XMLHttpRequest.prototype.open;
XMLHttpRequest.prototype.open = function open(method, url, ...rest) {
  if (!allowed(url, method)) {
    refused.push(`${method} ${url}`);
    throw new TypeError('private mode: this page sends nothing off the device');
  }
  return nativeOpen.call(this, method, url, ...rest);
};
if (navigator.sendBeacon) navigator.sendBeacon = (url) => { refused.push(`BEACON ${url}`); return false; };

// ---------------------------------------------------------------------------------------------- page state
const $ = (id) => document.getElementById(id);
const state = {config: null, pre: null, rules: null, photo: null, clip: null, ort: null, session: null,
               video: null, full: null, short: null, runtime: '', runs: 0, last: null};

async function getJson(path) {
  const r = await fetch(path);
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.json();
}

function setStatus(text, progress) {
  $('status').textContent = text;
  if (progress !== undefined) $('progress').value = progress;
}

async function load() {
  const started = performance.now();
  const [config, rules] = await Promise.all([getJson('config.json'), getJson('faces.json')]);
  state.config = config;
  state.pre = config.preprocessing;
  state.rules = rules;
  state.photo = P.Decision.fromConfig(state.pre);
  state.clip = P.Decision.fromConfig(state.pre, true);
  setStatus('Loading the face detector…', 0.1);
  const vision = await import('./vendor/mediapipe/vision_bundle.mjs');
  const fileset = await vision.FilesetResolver.forVisionTasks(new URL('vendor/mediapipe/wasm', location.href).href);
  const detector = (kind) => vision.FaceDetector.createFromOptions(fileset, {
    baseOptions: {modelAssetPath: rules.models[kind], delegate: 'CPU'}, runningMode: 'IMAGE',
    minDetectionConfidence: rules.min_confidence, minSuppressionThreshold: rules.suppression});
  state.full = await detector('full');
  state.short = await detector('short');
  setStatus('Loading the model…', 0.4);
  const ort = await import('./vendor/ort/ort.wasm.min.mjs');
  ort.env.wasm.wasmPaths = new URL('vendor/ort/', location.href).href;
  const threads = self.crossOriginIsolated ? Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1)) : 1;
  ort.env.wasm.numThreads = threads;
  state.ort = ort;
  const session = (path) => ort.InferenceSession.create(path, {executionProviders: ['wasm'],
                                                               graphOptimizationLevel: 'all'});
  state.session = await session('model.onnx');
  // Videos are scored by the checkpoint's model for videos when it has one (detector.api.Detector.video): its own
  // session, preprocessing and clip decision; otherwise by the same model as photos.
  state.video = {pre: state.pre, clip: state.clip, session: state.session, name: null};
  if (config.video_model === 'video') {
    const video = await getJson('video/config.json');
    state.video = {pre: video.preprocessing, clip: P.Decision.fromConfig(video.preprocessing, true),
                   session: await session('video/model.onnx'), name: video.name || 'model for videos'};
  }
  state.runtime = `ONNX Runtime Web ${ort.env.versions?.web || ''} (WebAssembly SIMD, ${threads} thread` +
                  `${threads > 1 ? 's' : ''}${self.crossOriginIsolated ? '' : '; not cross-origin isolated'})`;
  const s = state.pre.img_size;
  await score([new Uint8Array(s * s * 3)]);  // the first run compiles; do it before the person waits
  if (state.video.name) {
    const v = state.video.pre.img_size;
    await score([new Uint8Array(v * v * 3)], state.video);
  }
  const videos = state.video.name ? `; videos: its model for videos (${state.video.name})` : '';
  setStatus(`Ready: ${config.name || 'model'}${videos} on ${state.runtime}. Loaded in ` +
            `${((performance.now() - started) / 1000).toFixed(1)} s.`, 1);
  $('file').disabled = false;
  return {runtime: state.runtime, threads, isolated: self.crossOriginIsolated,
          load_ms: performance.now() - started, video_model: state.video.name};
}

// ------------------------------------------------------------------------------------------------ pipeline
function detectFaces(imageData, tiles) {
  const {width: w, height: h} = imageData;
  const rules = state.rules;
  if (Math.min(w, h) < 16) return [];
  let primary = P.toFaces(state.full.detect(imageData).detections, 'full', rules);
  if (tiles && Math.max(w, h) > rules.tile_above) {
    for (const [x0, y0, tile] of P.tileOrigins(w, h)) {
      const tw = Math.min(tile, w - x0);
      const th = Math.min(tile, h - y0);
      const sub = subImage(imageData, x0, y0, tw, th);
      const found = P.toFaces(state.full.detect(sub).detections, 'full', rules, [x0, y0]);
      primary = primary.concat(P.keepTileFaces(found, x0, y0, tw, th, rules));
    }
  }
  const extra = P.toFaces(state.short.detect(imageData).detections, 'short', rules);
  return P.combineDetections(primary, extra, rules);
}

function subImage(imageData, x0, y0, w, h) {
  const out = new ImageData(w, h);
  for (let y = 0; y < h; y++) {
    const src = ((y0 + y) * imageData.width + x0) * 4;
    out.data.set(imageData.data.subarray(src, src + w * 4), y * w * 4);
  }
  return out;
}

// An s x s RGB crop as opaque RGBA pixels, to draw on a canvas.
function opaque(crop, s) {
  const rgba = new ImageData(s, s);
  for (let i = 0, j = 0; i < crop.length; i += 3, j += 4) {
    rgba.data[j] = crop[i];
    rgba.data[j + 1] = crop[i + 1];
    rgba.data[j + 2] = crop[i + 2];
    rgba.data[j + 3] = 255;
  }
  return rgba;
}

// The checkpoint's jpeg_quality: each crop is encoded as JPEG at that quality and decoded again before it is scored,
// as the library does (detector/images.py jpeg_roundtrip) and as every training crop was packed.
async function jpegRoundTrip(crop, s, quality) {
  const canvas = new OffscreenCanvas(s, s);
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  ctx.putImageData(opaque(crop, s), 0, 0);
  const blob = await canvas.convertToBlob({type: 'image/jpeg', quality: quality / 100});
  const bitmap = await createImageBitmap(blob, {colorSpaceConversion: 'none', premultiplyAlpha: 'none'});
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  return P.rgbOf(ctx.getImageData(0, 0, s, s).data, s, s).data;
}

// P(fake) of each crop by one model: the photos' (the default) or state.video.
async function score(crops, model = {pre: state.pre, session: state.session}) {
  const pre = model.pre;
  const s = pre.img_size;
  const scores = [];
  if (pre.jpeg_quality) crops = await Promise.all(crops.map((c) => jpegRoundTrip(c, s, pre.jpeg_quality)));
  for (let i = 0; i < crops.length; i += BATCH) {
    const batch = crops.slice(i, i + BATCH);
    const input = new state.ort.Tensor('float32', P.toTensor(batch, pre), [batch.length, 3, s, s]);
    const out = await model.session.run({images: input});
    for (const v of out.logits.data) scores.push(P.sigmoid(v));
  }
  return scores;
}

// A decoded image as RGBA pixels: EXIF orientation applied, transparency over white, colour values as stored (the
// library reads images the same way).
async function decodeImage(file) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, {imageOrientation: 'from-image', premultiplyAlpha: 'none',
                                            colorSpaceConversion: 'none'});
  } catch (e) {
    throw new Error(`${file.name}: not an image this browser can decode (JPEG, PNG, WebP, GIF, BMP).`);
  }
  const {width: w, height: h} = bitmap;
  if (w * h > MAX_PIXELS) throw new Error(`${file.name}: ${w}x${h} pixels is larger than the limit of 50,000,000.`);
  if (Math.min(w, h) < 2) throw new Error(`${file.name}: the image is only ${w}x${h} pixels; nothing can be analysed.`);
  const canvas = new OffscreenCanvas(w, h);
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, w, h);
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  return ctx.getImageData(0, 0, w, h);
}

async function analyzeImageData(imageData, whole = false) {
  const t0 = performance.now();
  const {width: w, height: h} = imageData;
  const img = P.rgbOf(imageData.data, w, h);
  let faces;
  let dropped = 0;
  let message = '';
  if (whole) {
    const side = Math.max(w, h);
    faces = [{box: [0, 0, w, h], crop_box: [-Math.floor((side - w) / 2), -Math.floor((side - h) / 2), side],
              confidence: 1, at_edge: false, crop: P.wholeImageInput(img, state.pre.img_size)}];
    if (!detectFaces(imageData, false).length) {
      message = 'No face was detected in this image: the score is for the whole image analysed as if it were one ' +
                'face crop, which is only meaningful for an already-cropped face.';
    }
  } else {
    ({faces, dropped} = P.chooseFaces(detectFaces(imageData, true), MAX_FACES));
    for (const f of faces) {
      f.crop_box = P.cropSquare(f.box, state.pre, w, h);
      f.at_edge = !P.cropInside(P.cropBox(f.box, state.pre), w, h);
      f.crop = P.cropFace(img, f.box, state.pre);
    }
    if (!faces.length) message = 'No face was found.';
    else if (dropped) message = `${dropped} more faces were found but not analysed (limit max_faces=${MAX_FACES}).`;
  }
  const t1 = performance.now();
  const scores = await score(faces.map((f) => f.crop));
  const t2 = performance.now();
  faces.forEach((f, i) => { f.score = scores[i]; f.label = state.photo.label(scores[i]); });
  const {deciding, top: topFace} = P.decidingFaces(faces);
  faces.forEach((f) => { f.decides = deciding.includes(f); });
  const top = faces.length ? faces[topFace].score : null;
  return {kind: 'image', width: w, height: h, faces, score: top, top_face: topFace, label: state.photo.label(top),
          whole, message,
          faces_dropped: dropped, threshold: state.photo.threshold, uncertain_band: state.photo.band,
          timing: {find_ms: t1 - t0, score_ms: t2 - t1, total_ms: t2 - t0}};
}

// The next `ok` event of a media element; `fail`, or nothing within `seconds`, rejects.
function once(target, ok, fail, seconds = 30) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { off(); reject(new Error('timeout')); }, seconds * 1000);
    const off = () => {
      clearTimeout(timer);
      target.removeEventListener(ok, done);
      target.removeEventListener(fail, bad);
    };
    const done = () => { off(); resolve(); };
    const bad = () => { off(); reject(new Error(fail)); };
    target.addEventListener(ok, done);
    target.addEventListener(fail, bad);
  });
}

async function analyzeVideo(file, progress) {
  const t0 = performance.now();
  const model = state.video;
  const url = URL.createObjectURL(file);
  const video = document.createElement('video');
  video.muted = true;
  video.preload = 'auto';
  video.src = url;
  try {
    try {
      await once(video, 'loadeddata', 'error');
    } catch (e) {
      throw new Error(`${file.name}: not a video this browser can decode (MP4 H.264, WebM VP8/VP9/AV1).`);
    }
    let duration = video.duration;
    if (!Number.isFinite(duration)) {  // some WebM files state no duration: seek far to learn it
      video.currentTime = 1e7;
      await once(video, 'seeked', 'error');
      duration = video.duration;
    }
    const w = video.videoWidth;
    const h = video.videoHeight;
    if (!w || !h) throw new Error(`${file.name}: the file has no video stream.`);
    let note = '';
    if (duration > MAX_DURATION_S) {
      note = `Only the first ${MAX_DURATION_S} s of this ${duration.toFixed(0)} s video were analysed (limit ` +
             'max_duration_s).';
    }
    const times = P.sampleTimes(Math.min(duration, MAX_DURATION_S), model.pre.video_frames);
    const canvas = new OffscreenCanvas(w, h);
    const ctx = canvas.getContext('2d', {willReadFrequently: true});
    const frames = [];
    const crops = [];
    for (const [i, t] of times.entries()) {
      video.currentTime = t;
      try {
        await once(video, 'seeked', 'error');
      } catch (e) {
        if (frames.length) break;  // a truncated file: score the frames read so far
        throw new Error(`${file.name}: no frame could be decoded (the file may be truncated).`);
      }
      ctx.drawImage(video, 0, 0, w, h);
      const imageData = ctx.getImageData(0, 0, w, h);
      const img = P.rgbOf(imageData.data, w, h);
      const {faces} = P.chooseFaces(detectFaces(imageData, false), MAX_FACES);
      for (const f of faces) {
        f.crop = P.cropFace(img, f.box, model.pre);
        crops.push(f);
      }
      frames.push({index: i, time: t, faces});
      if (progress) progress((i + 1) / times.length);
    }
    if (frames.length < times.length) {
      note = `${note} Only ${frames.length} of the requested frames could be decoded (the file may be truncated).`
        .trim();
    }
    const t1 = performance.now();
    const scores = await score(crops.map((f) => f.crop), model);
    crops.forEach((f, i) => { f.score = scores[i]; });
    const t2 = performance.now();
    const {persons, dropped} = P.persons(frames, state.rules);
    const rule = model.pre.video_aggregation;
    for (const p of persons) {
      p.scores = p.frames.map((f) => f.score);
      p.score = P.aggregate(p.scores, rule);
      p.label = model.clip.label(p.score);
    }
    const top = persons.length ? persons.reduce((a, b) => (b.score > a.score ? b : a)) : null;
    if (!top) note = `${note} No face was found in any sampled frame.`.trim();
    return {kind: 'video', name: file.name, width: w, height: h, duration_s: duration, frames, persons,
            tracks_dropped: dropped, score: top ? top.score : null, label: model.clip.label(top ? top.score : null),
            top_person: top ? top.id : null, aggregation: rule, message: note, threshold: model.clip.threshold,
            uncertain_band: model.clip.band, n_faces: crops.length, video_model: model.name,
            timing: {find_ms: t1 - t0, score_ms: t2 - t1, total_ms: t2 - t0}};
  } finally {
    URL.revokeObjectURL(url);
    video.removeAttribute('src');
    video.load();
  }
}

// --------------------------------------------------------------------------------- rendering (as the app's)
const VERDICTS = {fake: ['Likely fake', 'fake'], uncertain: ['Uncertain', 'uncertain'], real: ['Likely real', 'real'],
                  'no face': ['No face found', 'none']};
const COLOURS = {fake: 'rgb(220,38,38)', real: 'rgb(22,163,74)', uncertain: 'rgb(202,138,4)'};

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
}

const pct = (score) => `${(score * 100).toFixed(0)}%`;

function badge(kind, score, big = false) {
  const [words, cls] = VERDICTS[kind] || [kind, 'none'];
  return el('span', {class: `badge badge-${cls}${big ? ' big' : ''}`}, words + (score == null ? '' : ` · ${pct(score)}`));
}

function bandText(decision) {
  let text = `“Likely fake” from ${pct(decision.threshold)}`;
  if (decision.band) text += `; “Uncertain” from ${pct(decision.band[0])} to ${pct(decision.band[1])}`;
  return `${text}.`;
}

function verdictBox(kind, score, lines) {
  const scope = state.config.scope ||
    "This model's card does not say what it covers; read it in the full app's Model tab before trusting a score.";
  const box = el('div', {class: 'verdict-box', id: 'verdict', 'data-label': kind}, badge(kind, score, true));
  for (const line of lines) if (line) box.append(el('p', {}, line));
  const scopeLine = el('p', {class: 'scope'}, el('b', {}, 'Scope:'), ` ${scope} `, el('br'),
                       el('i', {}, 'A score is evidence, not proof: never use it alone to accuse anyone.'));
  box.append(scopeLine);
  return box;
}

function cropUrl(crop) {
  const s = Math.round(Math.sqrt(crop.length / 3));  // square RGB crops of either model's input size
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = s;
  canvas.getContext('2d').putImageData(opaque(crop, s), 0, 0);
  return canvas.toDataURL('image/png');
}

function figure(crop, caption) {
  return el('figure', {}, el('img', {src: cropUrl(crop), alt: caption}), el('figcaption', {}, caption));
}

function drawBoxes(imageData, result) {
  const canvas = $('faces-canvas');
  canvas.width = imageData.width;
  canvas.height = imageData.height;
  const ctx = canvas.getContext('2d');
  ctx.putImageData(imageData, 0, 0);
  const thick = Math.max(2, Math.round(Math.max(canvas.width, canvas.height) / 400));
  result.faces.forEach((f, i) => {
    if (result.whole) return;
    const colour = COLOURS[state.photo.kind(f.score)];
    const [x, y, w, h] = f.box;
    ctx.lineWidth = thick;
    ctx.strokeStyle = colour;
    ctx.strokeRect(x, y, w, h);
    const text = `#${i + 1} ${f.label} ${f.score.toFixed(2)}`;
    ctx.font = `bold ${Math.max(12, Math.min(36, Math.round(w / 6)))}px system-ui, sans-serif`;
    const tw = ctx.measureText(text).width;
    const th = parseInt(ctx.font.match(/(\d+)px/)[1], 10);
    const ty = y - th - 6 > 0 ? y - th - 6 : y + h + 2;
    ctx.fillStyle = colour;
    ctx.fillRect(x, ty, tw + 8, th + 6);
    ctx.fillStyle = '#fff';
    ctx.fillText(text, x + 4, ty + th);
  });
  canvas.hidden = false;
}

function showImage(result, imageData) {
  let lines;
  if (!result.faces.length) {
    lines = [result.message];
  } else {
    const n = result.faces.length;
    const top = result.top_face;
    let which;
    if (result.whole) which = 'The whole image, analysed as one face:';
    else which = n === 1 ? 'One face was found:' : `Face ${top + 1} of ${n} is the most suspicious:`;
    const out = result.faces.map((f, i) => (f.decides ? 0 : i + 1)).filter((i) => i > 0);
    const edge = !out.length ? '' : `${out.length === 1 ? 'Face' : 'Faces'} ${out.join(', ')} ` +
      `${out.length === 1 ? 'is' : 'are'} cut by the photo's edge and not counted in the verdict: the model is ` +
      'unreliable on a face it sees only in part.';
    lines = [`${which} the model's estimate that it is fake is ${pct(result.score)}. ${bandText(state.photo)}`,
             edge, result.message];
  }
  $('result').replaceChildren(verdictBox(state.photo.kind(result.score), result.score, lines));
  drawBoxes(imageData, result);
  const cards = result.faces.map((f, i) => el('div', {class: 'card face-card'},
    el('div', {class: 'card-head'}, el('b', {}, `Face ${i + 1}`), badge(state.photo.kind(f.score), f.score)),
    ...(f.decides ? [] : [el('p', {class: 'edge-note'}, EDGE_NOTE)]),
    el('div', {class: 'card-imgs'}, figure(f.crop, `face ${i + 1}`))));
  $('cards').replaceChildren(el('div', {class: 'cards'}, ...cards));
}

function showVideo(result) {
  const seen = `${result.frames.length} frames sampled from ${result.duration_s.toFixed(1)} s; ` +
               `${result.persons.length} person(s) seen.`;
  let lines;
  if (result.score == null) {
    lines = [`${seen} ${result.message}`];
  } else {
    const p = result.persons.find((q) => q.id === result.top_person);
    lines = [`Person ${p.id} is the most suspicious: the ${result.aggregation} of their ${p.scores.length} frames is ` +
             `${pct(p.score)} (highest single frame ${pct(Math.max(...p.scores))}). ${seen} ${bandText(state.video.clip)}`,
             result.message];
  }
  $('result').replaceChildren(verdictBox(state.video.clip.kind(result.score), result.score, lines));
  $('faces-canvas').hidden = true;
  const rows = [...result.persons].sort((a, b) => b.score - a.score).map((p) => {
    const worst = [...p.frames].sort((a, b) => b.score - a.score).slice(0, EVIDENCE_PER_PERSON);
    return el('div', {class: 'card person'},
      el('img', {class: 'thumb', src: cropUrl(worst[0].crop), alt: `person ${p.id}`}),
      el('div', {}, el('div', {class: 'card-head'}, el('b', {}, `Person ${p.id}`), badge(state.video.clip.kind(p.score), p.score)),
         el('p', {}, `${result.aggregation} of ${p.scores.length} frames; highest frame ${pct(Math.max(...p.scores))}`)),
      el('div', {class: 'card-imgs'},
         ...worst.map((f) => figure(f.crop, `person ${p.id}, t=${f.time.toFixed(1)}s, ${pct(f.score)}`))));
  });
  $('cards').replaceChildren(el('div', {class: 'cards'}, ...rows));
}

function showSpeed(result) {
  const n = result.kind === 'image' ? result.faces.length : result.n_faces;
  const t = result.timing;
  const rate = n && t.score_ms > 0 ? ` (${(n / (t.score_ms / 1000)).toFixed(0)} faces/s)` : '';
  $('speed').textContent = `${n} face(s) in ${(t.total_ms / 1000).toFixed(2)} s on this device: finding and ` +
    `cropping ${t.find_ms.toFixed(0)} ms, scoring ${t.score_ms.toFixed(0)} ms${rate}; ${state.runtime}.`;
}

function isVideo(file) {
  return file.type.startsWith('video/') || /\.(mp4|m4v|mov|webm|mkv|avi|ogv)$/i.test(file.name);
}

async function analyzeFile(file, whole = false) {
  if (isVideo(file)) {
    const result = await analyzeVideo(file, (p) => setStatus(`Reading frames… ${(p * 100).toFixed(0)}%`, p));
    showVideo(result);
    return result;
  }
  const imageData = await decodeImage(file);
  const result = await analyzeImageData(imageData, whole);
  showImage(result, imageData);
  return result;
}

// JSON-able summary (what the tests compare with Python): no pixels.
function summary(result) {
  const strip = ({crop, ...rest}) => rest;
  if (result.kind === 'image') return {...result, faces: result.faces.map(strip)};
  return {...result, frames: result.frames.map((f) => ({...f, faces: f.faces.map(strip)})),
          persons: result.persons.map((p) => ({...p, frames: p.frames.map(strip)}))};
}

async function onFile() {
  const file = $('file').files[0];
  if (!file) return;
  $('error').hidden = true;
  $('file').disabled = true;
  setStatus(`Analysing ${file.name}…`);
  try {
    const result = await analyzeFile(file, $('whole').checked);
    state.last = summary(result);
    showSpeed(result);
    setStatus(`Done: ${file.name}. Nothing left this device.`);
  } catch (e) {
    state.last = {error: String(e.message || e)};
    $('error').textContent = `${e.message || e} Try another file.`;
    $('error').hidden = false;
    $('result').replaceChildren(el('p', {class: 'hint', id: 'verdict-hint'}, 'No result for this file.'));
    $('cards').replaceChildren();
    $('faces-canvas').hidden = true;
    setStatus('Ready for another file.');
  } finally {
    state.runs += 1;
    $('result').dataset.runs = String(state.runs);
    $('file').disabled = false;
  }
}

$('file').addEventListener('change', onFile);
$('whole').addEventListener('change', () => { if ($('file').files[0]) onFile(); });

const ready = load().catch((e) => {
  setStatus(`The page could not start: ${e.message || e}. Reload, or use the full app.`);
  throw e;
});

// For tests and benchmarks (same origin, same functions the page uses).
window.privatePage = {
  ready,
  refused,
  get last() { return state.last; },
  async scoreBenchmark(n) {
    const s = state.pre.img_size;
    const crops = Array.from({length: n}, (_, i) => new Uint8Array(s * s * 3).fill(40 + (i % 150)));
    const t0 = performance.now();
    await score(crops);
    return {faces: n, ms: performance.now() - t0};
  },
};
