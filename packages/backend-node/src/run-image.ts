/**
 * One image of `dynavit run`: decode, run the pipeline, write `<name>.<task>.png` (a picture of the
 * result) and `<name>.<task>.json` atomically; shared by the main thread and the `--workers` pool.
 */
import { basename, extname, join } from 'node:path';
import { NumericError, type PipelineTask } from '@dynavit/core';
import {
  type ClassificationLabel,
  type DetectionOutput,
  labelSetFor,
  type Pipeline,
  type SegmentationOutput,
  taskKind,
} from '@dynavit/pipelines';
import { writeFileAtomic } from './files.js';
import { readImage } from './images.js';
import type { NodeImageInput } from './pipeline.js';
import { renderClassification, renderDetections, renderSegmentation } from './render.js';

/** `--task`'s short names, used in the output files' names. */
export const SHORT: Readonly<Record<PipelineTask, string>> = {
  'image-classification': 'classify',
  'semantic-segmentation': 'segment',
  'object-detection': 'detect',
  'instance-segmentation': 'detect',
};

export interface RunImageOptions {
  task: PipelineTask;
  /** the model or release name given to `run` */
  model: string;
  /** the output folder (checked by `run`) */
  out: string;
  topk: number;
  /** the dense test scale (`--scale`) */
  scale?: [number, number];
  /** the pixel budget of an image */
  pixels: number;
  /** no weights were given: pictures carry an "untrained" mark */
  untrained: boolean;
}

/** What one image gave: the line to print, or a warning (non-finite outputs: nothing was written). */
export type RunImageResult = { line: string; warning?: undefined } | { warning: string; line?: undefined };

export async function runImage(
  p: Pipeline<PipelineTask, NodeImageInput>,
  path: string,
  o: RunImageOptions,
): Promise<RunImageResult> {
  const img = await readImage(path, o.pixels);
  const stem = join(o.out, `${basename(path, extname(path))}.${SHORT[o.task]}`);
  const labelSet = labelSetFor(taskKind(o.task), p.numClasses);
  const dense = o.scale ? { scale: o.scale } : {};
  const mark = { untrained: o.untrained };
  const t0 = performance.now();
  let result: unknown;
  try {
    if (o.task === 'image-classification') {
      const top = (await p(img, { topk: o.topk })) as ClassificationLabel[];
      result = { top };
      await renderClassification(img, top, `${stem}.png`, mark);
    } else if (o.task === 'semantic-segmentation') {
      const seg = (await p(img, dense)) as SegmentationOutput;
      const hist: Record<string, number> = {};
      for (const c of seg.classMap) hist[seg.labels[c]!] = (hist[seg.labels[c]!] ?? 0) + 1;
      result = { numClasses: p.numClasses, head: p.head, classPixels: hist };
      await renderSegmentation(img, seg, labelSet, `${stem}.png`, mark);
    } else {
      const det = (await p(img, dense)) as DetectionOutput;
      result = {
        numClasses: p.numClasses,
        head: p.head,
        detections: det.boxes.map((box, j) => ({
          box,
          score: det.scores[j],
          label: det.classes[j],
          name: det.labels[j],
          maskPixels: det.masks ? det.masks[j]!.reduce((a, v) => a + v, 0) : null,
        })),
      };
      await renderDetections(img, det, labelSet, `${stem}.png`, mark);
    }
  } catch (e) {
    if (!(e instanceof NumericError)) throw e;
    return { warning: `dynavit: ${path}: ${e.message}; nothing written` };
  }
  const millis = performance.now() - t0;
  const record = {
    image: path,
    width: img.width,
    height: img.height,
    model: o.model,
    task: o.task,
    backend: p.backend.backend,
    // the threads wasm computed on (--threads; one per worker with --workers)
    ...(p.backend.threads !== undefined ? { threads: p.backend.threads } : {}),
    weights: p.report.source,
    untrained: o.untrained,
    millis,
    result,
  };
  await writeFileAtomic(`${stem}.json`, `${JSON.stringify(record, null, 2)}\n`);
  return { line: `${path} → ${stem}.png, ${stem}.json (${millis.toFixed(0)} ms)` };
}
