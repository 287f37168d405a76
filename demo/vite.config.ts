/** For the Vite CLI (`npx vite demo`, `npx vite build demo`); `npm run demo` uses the same config. */
import { demoViteConfig } from './node/vite_config.js';

export default demoViteConfig();
