/**
 * Worker thread of `ImageDecoder`: reads and decodes image files off the main thread, so
 * decoding overlaps with the model's work. Messages: `{ id, path }` in, `{ id, width, height,
 * data }` (RGB bytes, transferred) or `{ id, error }` out.
 */
import { parentPort } from 'node:worker_threads';
import { decodeImage } from '../sam/preprocess/decode_image.js';

interface Request {
  id: number;
  path: string;
}

const port = parentPort;
if (port) {
  port.on('message', (req: Request) => {
    decodeImage(req.path).then(
      (img) => {
        const data = img.data.byteOffset === 0 && img.data.byteLength === img.data.buffer.byteLength ? img.data : img.data.slice();
        port.postMessage({ id: req.id, width: img.width, height: img.height, data }, [data.buffer as ArrayBuffer]);
      },
      (e: unknown) => port.postMessage({ id: req.id, error: e instanceof Error ? e.message : String(e) }),
    );
  });
}
