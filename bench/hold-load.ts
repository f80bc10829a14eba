/**
 * One load process of scenario 6 (`bench/hold.ts`): opens its share of idle WebSocket clients from
 * several 127.0.0.x source addresses, keeps them open (the `ws` client answers the server's pings
 * itself) and says how many are still open when asked. Several run at once: one process holds at
 * most what its own open-file limit allows.
 */
import WebSocket from 'ws';

/** What the runner asks a hold load process to do. */
export type HoldCommand =
  | { cmd: 'connect'; url: string; rooms: number; count: number; offset: number; addresses: string[]; cookie?: string; concurrency: number; deadlineMs: number }
  | { cmd: 'count' }
  | { cmd: 'close' };

/** What it answers to `connect`: how many got their welcome, and why the others did not. */
export interface HoldConnectResult {
  open: number;
  failed: number;
  firstError?: string;
  ms: number;
}

const sockets: WebSocket[] = [];
let closedAfterWelcome = 0;

function open(url: string, localAddress: string, cookie: string | undefined): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { perMessageDeflate: false, localAddress, ...(cookie ? { headers: { cookie } } : {}) });
    let welcomed = false;
    socket.once('message', () => {
      welcomed = true;
      resolve(socket);
    });
    socket.once('error', (err) => {
      if (!welcomed) reject(err);
    });
    socket.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    socket.once('close', (code) => {
      if (welcomed) closedAfterWelcome++;
      else reject(new Error(`closed with ${code} before the welcome`));
    });
  });
}

async function connect(job: Extract<HoldCommand, { cmd: 'connect' }>): Promise<HoldConnectResult> {
  const started = performance.now();
  let next = 0;
  let failed = 0;
  let firstError: string | undefined;
  // A server that cannot take more (its open-file limit) fails every attempt: stop soon after.
  const giveUpAfter = 200;
  const worker = async () => {
    while (next < job.count && failed < giveUpAfter && performance.now() - started < job.deadlineMs) {
      const i = job.offset + next++;
      const address = job.addresses[i % job.addresses.length]!;
      try {
        sockets.push(await open(`${job.url}r${i % job.rooms}`, address, job.cookie));
      } catch (err) {
        failed++;
        firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(job.concurrency, job.count) }, worker));
  return { open: sockets.length - closedAfterWelcome, failed, ...(firstError ? { firstError } : {}), ms: performance.now() - started };
}

if (process.send) {
  process.on('message', (msg: HoldCommand & { id: number }) => {
    const reply = (body: object) => process.send!({ id: msg.id, ...body });
    if (msg.cmd === 'connect') void connect(msg).then((result) => reply({ result }));
    else if (msg.cmd === 'count') reply({ open: sockets.length - closedAfterWelcome, closed: closedAfterWelcome });
    else if (msg.cmd === 'close') {
      for (const socket of sockets) socket.terminate();
      reply({ closed: true });
      setImmediate(() => process.exit(0));
    }
  });
  process.on('disconnect', () => process.exit(0));
}
