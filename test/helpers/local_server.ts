/**
 * A throwaway HTTP server on the loopback interface for tests: random port on 127.0.0.1, every
 * request recorded, and a lifetime after which it closes itself even if a test forgets to.
 */
import { createReadStream, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';

export interface RecordedRequest {
  method: string;
  url: string;
  range?: string;
}

export interface LocalServer {
  /** http://127.0.0.1:<port> (no trailing slash). */
  url: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, index: number) => void;

export async function startLocalServer(handler: Handler, lifetimeMs = 30_000): Promise<LocalServer> {
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    const index = requests.length;
    requests.push({ method: req.method ?? 'GET', url: req.url ?? '/', range: req.headers.range });
    try {
      handler(req, res, index);
    } catch (e) {
      res.statusCode = 500;
      res.end(String(e));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    clearTimeout(timer);
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  const timer = setTimeout(() => void close(), lifetimeMs);
  timer.unref();
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, requests, close };
}

const TYPES: Record<string, string> = { '.json': 'application/json', '.bin': 'application/octet-stream' };

/** Serves the files of a directory (GET only, no listing, nothing outside it). */
export function directoryHandler(dir: string): Handler {
  return (req, res) => {
    const path = normalize(join(dir, decodeURIComponent((req.url ?? '/').split('?')[0])));
    let size = -1;
    try {
      if (path.startsWith(dir + sep) || path === dir) {
        const st = statSync(path);
        if (st.isFile()) size = st.size;
      }
    } catch {
      size = -1;
    }
    if (size < 0 || req.method !== 'GET') {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream', 'content-length': size });
    createReadStream(path).pipe(res);
  };
}

export interface FileServeOptions {
  /** Honour Range requests with 206 (default true). */
  range?: boolean;
  /** Break the connection of the first full-body response after this many bytes. */
  breakFirstAfter?: number;
  /** Serve these bytes instead of the real ones (e.g. corrupted). */
  body?: Uint8Array;
}

/** Serves one file's bytes at `/<name>`, with optional Range support and a broken first response. */
export function fileHandler(name: string, bytes: Uint8Array, options: FileServeOptions = {}): Handler {
  const data = options.body ?? bytes;
  let broken = false;
  return (req, res) => {
    if ((req.url ?? '').split('?')[0] !== `/${name}`) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    let start = 0;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (m && options.range !== false) {
      start = Number(m[1]);
      if (start >= data.length) {
        res.writeHead(416, { 'content-range': `bytes */${data.length}` }).end();
        return;
      }
      res.writeHead(206, { 'content-length': data.length - start, 'content-range': `bytes ${start}-${data.length - 1}/${data.length}`, 'accept-ranges': 'bytes' });
    } else {
      res.writeHead(200, { 'content-length': data.length, ...(options.range !== false ? { 'accept-ranges': 'bytes' } : {}) });
    }
    const body = data.subarray(start);
    if (options.breakFirstAfter !== undefined && !broken) {
      broken = true;
      res.write(body.subarray(0, options.breakFirstAfter), () => {
        // give the bytes a moment to leave, then cut the connection mid-body
        setTimeout(() => res.socket?.destroy(), 20);
      });
      return;
    }
    res.end(body);
  };
}
