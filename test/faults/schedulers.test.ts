// Several schedulers at once and a worker that keeps crashing: still one digest per reader per date.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNode } from '../helpers/processes.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';
import { checkInvariants, setUpRun, statuses, waitUntilSettled, type Run } from './harness.ts';

describe('concurrent schedulers and a crash-looping worker', () => {
  let sink: SmtpSink;
  let run: Run | undefined;
  beforeAll(async () => {
    sink = await startSmtpSink();
  });
  afterAll(async () => {
    await run?.close();
    await sink.close();
  });

  it('4. three scheduling passes at once from three processes, a worker killed and restarted three times', async () => {
    run = await setUpRun({ readers: 300, sink });
    const t = run;
    // Three processes run `paperboy digest:run --now` at the same moment: ON CONFLICT lets one create each.
    const passes = await Promise.all(
      [1, 2, 3].map(() => startNode('src/cli.ts', ['digest:run', '--now'], t.env()).finished),
    );
    const created = passes.map((pass) => {
      expect(pass.code, pass.stderr).toBe(0);
      return Number(/(\d+) digest\(s\) scheduled/.exec(pass.stdout)?.[1]);
    });
    expect(created.reduce((a, b) => a + b, 0)).toBe(303);
    // The worker crashes every 40 messages or so, and is restarted at once, three times over.
    for (let crash = 1; crash <= 3; crash++) {
      const worker = await t.startWorker();
      // Scheduling again meanwhile (as every worker's minute tick does) creates nothing new.
      expect(await t.schedule()).toBe(303);
      await sink.waitForMessages(crash * 40, 60_000);
      await worker.kill();
    }
    await t.startWorker();
    await waitUntilSettled(t);
    // Each SIGKILL may catch up to 8 messages (the worker's concurrency) between "250" and the commit.
    const { repeated } = await checkInvariants(t, { resent: 24 });
    expect(await statuses(t.database)).toEqual({ sent: 300, skipped: 3 });
    console.info(`crash loop: ${repeated.length} message(s) in the accepted-not-committed window`);
  }, 240_000);
});
