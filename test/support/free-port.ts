import { createServer, type AddressInfo } from 'node:net';

/**
 * A free loopback TCP port (bound once, released, handed out). Shared by the tests and the other
 * local harnesses (bench, drill, vm).
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
