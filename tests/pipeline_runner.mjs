// Runs detector/web/pipeline.js (the private page's pipeline) on jobs read as JSON from stdin, for
// tests/test_pipeline_js.py, which compares every answer with the Python library's.
import * as P from '../detector/web/pipeline.js';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const jobs = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const bytes = (b64) => new Uint8Array(Buffer.from(b64, 'base64'));
const b64 = (arr) => Buffer.from(arr).toString('base64');

const answers = jobs.map((job) => {
  switch (job.op) {
    case 'crop': {
      const img = {data: bytes(job.rgb), width: job.width, height: job.height};
      const square = P.cropSquare(job.box, job.pre, job.width, job.height);
      return {crop_box: square, at_edge: !P.cropInside(P.cropBox(job.box, job.pre), job.width, job.height),
              crop: b64(P.cropFace(img, job.box, job.pre))};
    }
    case 'decide': {
      const {deciding, top} = P.decidingFaces(job.faces);
      return {deciding: deciding.map((f) => job.faces.indexOf(f)), top};
    }
    case 'whole':
      return b64(P.wholeImageInput({data: bytes(job.rgb), width: job.width, height: job.height}, job.size));
    case 'labels': {
      const d = P.Decision.fromConfig(job.pre, job.clip);
      return job.scores.map((s) => d.label(s));
    }
    case 'aggregate':
      return P.aggregate(job.scores, job.rule);
    case 'merge':
      return P.combineDetections(job.primary, job.extra, job.rules).map((f) => f.box);
    case 'order':
      return P.readingOrder(job.faces).map((f) => f.box);
    case 'persons': {
      const {persons, dropped} = P.persons(job.frames, job.rules);
      return {persons: persons.map((p) => p.frames.map((f) => f.time)), dropped};
    }
    case 'tiles':
      return P.tileOrigins(job.width, job.height);
    default:
      throw new Error(`unknown op ${job.op}`);
  }
});
process.stdout.write(JSON.stringify(answers));
