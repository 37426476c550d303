/**
 * A DNS server for scenarios, on 127.0.0.1:53 inside the scenario's namespace: names under
 * `slow.test` get an A record (127.0.0.1) after `delayMs`, names under `fast.test` at once, names
 * under `nx.test` NXDOMAIN at once.
 * It counts A queries per name and the most names it was resolving at the same time.
 */
import { createSocket, type RemoteInfo } from 'node:dgram';

const TYPE_A = 1;

export interface TestDnsServer {
  readonly queries: Map<string, number>;
  readonly mostConcurrent: () => number;
  close(): void;
}

export async function startDnsServer(delayMs: number): Promise<TestDnsServer> {
  const queries = new Map<string, number>();
  const pending = new Set<string>();
  let most = 0;
  const server = createSocket('udp4');
  server.on('message', (query: Buffer, peer: RemoteInfo) => {
    const { name, type, questionEnd } = readQuestion(query);
    const answer = (rcode: number, address?: number[]): void => {
      const header = Buffer.alloc(12);
      query.copy(header, 0, 0, 2);
      header.writeUInt16BE(0x8180 | (query.readUInt16BE(2) & 0x0100) | rcode, 2);
      header.writeUInt16BE(1, 4);
      header.writeUInt16BE(address ? 1 : 0, 6);
      const parts = [header, query.subarray(12, questionEnd)];
      if (address) {
        const record = Buffer.alloc(16);
        record.writeUInt16BE(0xc00c, 0);
        record.writeUInt16BE(TYPE_A, 2);
        record.writeUInt16BE(1, 4);
        record.writeUInt32BE(60, 6);
        record.writeUInt16BE(4, 10);
        Buffer.from(address).copy(record, 12);
        parts.push(record);
      }
      server.send(Buffer.concat(parts), peer.port, peer.address);
    };
    if (type === TYPE_A) queries.set(name, (queries.get(name) ?? 0) + 1);
    if (name.endsWith('.nx.test')) {
      answer(3);
      return;
    }
    if (name.endsWith('.fast.test')) {
      answer(0, type === TYPE_A ? [127, 0, 0, 1] : undefined);
      return;
    }
    if (!name.endsWith('.slow.test')) {
      answer(5);
      return;
    }
    if (type === TYPE_A) {
      pending.add(name);
      most = Math.max(most, pending.size);
    }
    setTimeout(() => {
      if (type === TYPE_A) pending.delete(name);
      answer(0, type === TYPE_A ? [127, 0, 0, 1] : undefined);
    }, delayMs);
  });
  await new Promise<void>((resolve) => server.bind(53, '127.0.0.1', resolve));
  return { queries, mostConcurrent: () => most, close: () => server.close() };
}

function readQuestion(message: Buffer): { name: string; type: number; questionEnd: number } {
  const labels: string[] = [];
  let offset = 12;
  while (message[offset] !== 0) {
    const length = message[offset]!;
    labels.push(message.subarray(offset + 1, offset + 1 + length).toString('latin1'));
    offset += 1 + length;
  }
  return {
    name: labels.join('.').toLowerCase(),
    type: message.readUInt16BE(offset + 1),
    questionEnd: offset + 5,
  };
}
