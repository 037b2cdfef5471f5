// Slow or stalled clients: a request that never finishes arriving must not hold its connection forever.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { openTestApp, type TestApp } from '../helpers/app.ts';

interface Outcome {
  /** Everything the server sent before the connection ended. */
  received: string;
  /** Milliseconds from the first byte sent to the close, or null if the server still held it at `giveUpMs`. */
  closedAfterMs: number | null;
}

/**
 * Sends the headers of a POST announcing a 1000-byte body, then only part of it; `trickleMs` keeps sending
 * one more byte at that interval (never reaching 1000), so the connection is slow but never silent.
 */
function sendUnfinishedBody(address: string, { trickleMs, giveUpMs }: { trickleMs?: number; giveUpMs: number }) {
  const { hostname, port } = new URL(address);
  return new Promise<Outcome>((resolve, reject) => {
    const socket = net.connect(Number(port), hostname);
    let received = '';
    let trickle: NodeJS.Timeout | undefined;
    const started = performance.now();
    const giveUp = setTimeout(() => {
      finish(null);
      socket.destroy();
    }, giveUpMs);
    function finish(closedAfterMs: number | null) {
      clearTimeout(giveUp);
      clearInterval(trickle);
      resolve({ received, closedAfterMs });
    }
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('close', () => finish(performance.now() - started));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ECONNRESET' && error.code !== 'EPIPE') reject(error);
    });
    socket.on('connect', () => {
      socket.write(
        'POST /api/v1/subscriptions HTTP/1.1\r\nHost: paperboy.test\r\n' +
          'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"email":"ada',
      );
      if (trickleMs) trickle = setInterval(() => socket.writable && socket.write('a'), trickleMs);
    });
  });
}

describe('request and connection timeouts', () => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  async function listening(overrides: Record<string, string>) {
    t = await openTestApp(overrides);
    return t.app.listen({ host: '127.0.0.1', port: 0 });
  }

  it('answers 408 and closes a request whose body keeps trickling past REQUEST_TIMEOUT_MS', async () => {
    const address = await listening({ REQUEST_TIMEOUT_MS: '1000', CONNECTION_TIMEOUT_MS: '60000' });
    const outcome = await sendUnfinishedBody(address, { trickleMs: 100, giveUpMs: 8_000 });
    expect(outcome.closedAfterMs, 'the server still held the connection').not.toBeNull();
    expect(outcome.received).toMatch(/^HTTP\/1\.1 408 /);
    // Not before the timeout, and not much after it (the server checks a tenth of the timeout apart).
    expect(outcome.closedAfterMs).toBeGreaterThanOrEqual(900);
    expect(outcome.closedAfterMs).toBeLessThan(4_000);
    // Ordinary requests are untouched.
    expect((await fetch(`${address}/healthz`)).status).toBe(200);
  });

  it('closes a connection that goes silent mid-body after CONNECTION_TIMEOUT_MS', async () => {
    const address = await listening({ REQUEST_TIMEOUT_MS: '60000', CONNECTION_TIMEOUT_MS: '1000' });
    const outcome = await sendUnfinishedBody(address, { giveUpMs: 8_000 });
    expect(outcome.closedAfterMs, 'the server still held the connection').not.toBeNull();
    expect(outcome.closedAfterMs).toBeGreaterThanOrEqual(900);
    expect(outcome.closedAfterMs).toBeLessThan(4_000);
    expect((await fetch(`${address}/healthz`)).status).toBe(200);
  });
});
