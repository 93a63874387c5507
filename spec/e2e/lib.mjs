// Helpers shared by the end-to-end tests. Not a test file itself: `node --test
// spec/e2e/` runs only the *.test.mjs files here.
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

// The build with the binaries under test: $YOLK_BUILD_DIR (relative to the
// repository root), default ./build.
export const buildDir = path.resolve(repoRoot, process.env.YOLK_BUILD_DIR || 'build');

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it).
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}
