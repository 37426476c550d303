// `npm start`: the proxy and the sidecar on the development config, in the foreground.
// Ctrl-C (or SIGTERM) stops both; if either exits, the other is stopped too.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const config = process.env.EGRESS_PROXY_CONFIG ?? fileURLToPath(new URL('./config.json', import.meta.url));
const dist = new URL('../dist/', import.meta.url);
const children = ['proxy', 'sidecar'].map((name) =>
  spawn(process.execPath, [fileURLToPath(new URL(`${name}.js`, dist)), '--config', config], {
    stdio: 'inherit',
  }),
);

let stopping = false;
const stop = (code) => {
  if (stopping) return;
  stopping = true;
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  process.exitCode = code;
};
for (const child of children) child.on('exit', (code) => stop(code ?? 1));
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));

console.error(`egress-proxy: config ${config}
  try: curl -x http://127.0.0.1:3128 https://example.com
       curl http://127.0.0.1:8081/healthcheck`);
