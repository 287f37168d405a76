/**
 * The browser's wasm thread sizing (src/backends/wasm_threads_browser.ts) on stand-in
 * globals; test/demo_e2e.test.ts checks it in Chromium (2 threads on this 2-core machine,
 * and the page's mask equal to the library's).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { configureBrowserWasmThreads, SMALL_MACHINE_CORES } from '../src/backends/wasm_threads_browser.js';

const test = suite('browser wasm threads');

/** A navigator whose hardwareConcurrency is a prototype getter, as in browsers. */
function fakeNavigator(cores: number): { hardwareConcurrency?: number } {
  const proto = {
    get hardwareConcurrency() {
      return cores;
    },
  };
  return Object.create(proto) as { hardwareConcurrency?: number };
}

test('a small isolated machine: one thread per core, and the core count it reports only during the start', () => {
  for (const cores of [2, 3, SMALL_MACHINE_CORES]) {
    const navigator = fakeNavigator(cores);
    const asked: number[] = [];
    const started = configureBrowserWasmThreads({ crossOriginIsolated: true, navigator }, (n) => asked.push(n));
    assert.ok(started, `${cores} cores`);
    assert.equal(asked, [cores]);
    assert.is(navigator.hardwareConcurrency, 2 * cores, 'tfjs-wasm halves what it reads');
    started!();
    assert.is(navigator.hardwareConcurrency, cores, 'the real value is back');
  }
});

test('a page shim of hardwareConcurrency is put back, and overlapping starts do not double twice', () => {
  const navigator = fakeNavigator(2);
  Object.defineProperty(navigator, 'hardwareConcurrency', { value: 3, configurable: true, enumerable: true });
  const started = configureBrowserWasmThreads({ crossOriginIsolated: true, navigator }, () => {});
  assert.is(navigator.hardwareConcurrency, 6);
  assert.is(configureBrowserWasmThreads({ crossOriginIsolated: true, navigator }, () => {}), null, 'a second start while the first runs');
  assert.is(navigator.hardwareConcurrency, 6);
  started!();
  assert.equal(Object.getOwnPropertyDescriptor(navigator, 'hardwareConcurrency'), { value: 3, writable: false, enumerable: true, configurable: true });
});

test("not isolated, one core, or a large machine: tfjs's own choice, nothing touched", () => {
  for (const [isolated, cores] of [[false, 2], [true, 1], [true, SMALL_MACHINE_CORES + 1], [true, 16]] as const) {
    const navigator = fakeNavigator(cores);
    const asked: number[] = [];
    assert.is(configureBrowserWasmThreads({ crossOriginIsolated: isolated, navigator }, (n) => asked.push(n)), null);
    assert.equal(asked, []);
    assert.is(navigator.hardwareConcurrency, cores);
  }
});

test.run();
