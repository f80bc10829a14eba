/**
 * A private local Redis Cluster for tests: 3 masters, optionally each with replicas, every node a
 * `redis-server` of its own (`RedisProcess`) on free ports, created with
 * `redis-cli --cluster create`. Resolves once every node reports `cluster_state:ok`, all agree on
 * who serves which slots, every replica's link to its master is up (so a failover can happen) and
 * every node's CLUSTER SLOTS lists the replicas (so a client sees every node).
 * Same clean-up guarantees as `redis-server.ts`.
 *
 * @example
 * const cluster = await startRedisCluster({ replicas: 1 });
 * afterAll(() => cluster.stop());
 * const master = cluster.masters[0];
 * await cluster.kill(master);
 * const promoted = await cluster.waitForFailover(master);
 */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { freePort, ownedTempDir, pollUntil } from './owned-process.ts';
import { RedisProcess, RedisStartError, redisCommand } from './redis-server.ts';

/** Options of `startRedisCluster`. */
export interface RedisClusterOptions {
  /** Masters; default 3 (the fewest `redis-cli --cluster create` accepts). */
  masters?: number;
  /** Replicas per master; default 0. A failover needs at least 1. */
  replicas?: number;
  /**
   * `cluster-node-timeout`: how long a node may be unreachable before it is failed over; default
   * 1000 ms (Redis' default is 15 s). Far lower risks false failovers on a loaded machine.
   */
  nodeTimeoutMs?: number;
  /**
   * `cluster-require-full-coverage`; default true, as in Redis. True: once a master without a
   * replica is failed, the whole cluster answers CLUSTERDOWN; false: the other slots keep working.
   */
  requireFullCoverage?: boolean;
  /** Extra `redis-server` arguments for every node. */
  args?: string[];
  /** Bound on the whole start; default 30 s. */
  startTimeoutMs?: number;
}

/** A node as the cluster sees it. */
export interface ClusterNode {
  /** The cluster's id of the node (40 hex characters). */
  readonly id: string;
  readonly port: number;
  /** `127.0.0.1:<port>`. */
  readonly address: string;
  /** The current or, once killed, the last process's pid. */
  readonly pid: number;
  readonly role: 'master' | 'replica';
  /** Id of its master, for a replica. */
  readonly masterId: string | undefined;
  /** Inclusive `[first, last]` slot ranges it serves (masters). */
  readonly slots: ReadonlyArray<readonly [number, number]>;
  /** Whether its process is running. */
  readonly running: boolean;
}

/** A running cluster (see the module comment). */
export interface RedisCluster {
  /** Every node, as last read from the cluster (`refresh()` re-reads; `kill` and `waitForFailover` do). */
  readonly nodes: readonly ClusterNode[];
  /** The running masters that serve slots. */
  readonly masters: readonly ClusterNode[];
  /** `127.0.0.1:p1,127.0.0.1:p2,...` of every node: the `REDIS_CLUSTER_NODES` form. */
  readonly nodesString: string;
  /** The node serving `slot` now (as last read). */
  nodeForSlot(slot: number): ClusterNode;
  /** The slot of `key` (CLUSTER KEYSLOT; honours `{hash tags}`). */
  keySlot(key: string): Promise<number>;
  /** Sends `signal` (default SIGKILL) to the node's process; resolves once it has exited. */
  kill(node: ClusterNode | number, signal?: NodeJS.Signals): Promise<void>;
  /**
   * Starts a killed node again on its port with its nodes.conf; resolves once every running node
   * sees it up and agrees on the slots (a replaced master has turned into a replica by then).
   */
  revive(node: ClusterNode | number, options?: { timeoutMs?: number }): Promise<void>;
  /**
   * Resolves, with the promoted replica, once the running nodes agree that a replica of `killed`
   * serves its slots and report `cluster_state:ok`. Rejects after `timeoutMs` (default 20 s).
   */
  waitForFailover(killed: ClusterNode | number, options?: { timeoutMs?: number }): Promise<ClusterNode>;
  /** Resolves once every running node reports `cluster_state:ok` and all agree on the slots. */
  waitForAgreement(options?: { timeoutMs?: number }): Promise<void>;
  /** Re-reads roles and slots from a running node. */
  refresh(): Promise<readonly ClusterNode[]>;
  /** Kills every node and removes their directories; idempotent. */
  stop(): Promise<void>;
}

interface NodeView {
  id: string;
  port: number;
  role: 'master' | 'replica';
  masterId: string | undefined;
  slots: Array<[number, number]>;
  failed: boolean;
}

/** Parses CLUSTER NODES (one line per node: id addr flags master ping pong epoch link slots...). */
function parseClusterNodes(text: string): NodeView[] {
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const [id = '', addr = '', flags = '', master = '', , , , , ...slots] = line.trim().split(' ');
      const flagSet = new Set(flags.split(','));
      return {
        id,
        port: Number(/:(\d+)@/.exec(addr)?.[1]),
        role: flagSet.has('master') ? 'master' : 'replica',
        masterId: master === '-' ? undefined : master,
        // Importing/migrating markers ([slot->-id]) are transient and not ownership.
        slots: slots
          .filter((s) => !s.startsWith('['))
          .map((s) => {
            const [first, last = first] = s.split('-').map(Number) as [number, number?];
            return [first, last] as [number, number];
          }),
        failed: flagSet.has('fail') || flagSet.has('fail?'),
      } satisfies NodeView;
    });
}

/** What a node says about the cluster, reduced to what must agree: who serves which slots. */
function slotOwners(view: NodeView[]): string {
  return JSON.stringify(
    view
      .filter((n) => n.role === 'master' && n.slots.length > 0)
      .map((n) => [n.id, n.slots] as const)
      .sort(([a], [b]) => (a < b ? -1 : 1)),
  );
}

function runRedisCli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const cli = spawn('redis-cli', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    cli.stdout.on('data', (chunk) => (out += chunk));
    cli.stderr.on('data', (chunk) => (out += chunk));
    cli.once('error', reject);
    cli.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`redis-cli ${args.join(' ')} exited with ${code}:\n${out}`))));
  });
}

/** Starts a local cluster and resolves once it is ok everywhere (see the module comment). */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  const masterCount = options.masters ?? 3;
  const replicas = options.replicas ?? 0;
  const nodeTimeoutMs = options.nodeTimeoutMs ?? 1000;
  const startTimeoutMs = options.startTimeoutMs ?? 30_000;
  const dir = ownedTempDir('hns-cluster-');
  const processes: RedisProcess[] = [];
  let views: NodeView[] = [];

  const byPort = (port: number) => processes.find((p) => p.port === port);
  const asNode = (v: NodeView): ClusterNode => {
    const proc = byPort(v.port);
    return {
      id: v.id,
      port: v.port,
      address: `127.0.0.1:${v.port}`,
      pid: proc?.pid ?? 0,
      role: v.role,
      masterId: v.masterId,
      slots: v.slots,
      running: proc?.running ?? false,
    };
  };
  const portOf = (node: ClusterNode | number) => (typeof node === 'number' ? node : node.port);
  const processOf = (node: ClusterNode | number) => {
    const proc = byPort(portOf(node));
    if (!proc) throw new Error(`no node of this cluster on port ${portOf(node)}`);
    return proc;
  };
  const running = () => processes.filter((p) => p.running);
  const readView = async (port: number) => parseClusterNodes((await redisCommand(port, 'CLUSTER', 'NODES')) as string);
  const refresh = async () => {
    for (const proc of running()) {
      try {
        views = await readView(proc.port);
        break;
      } catch {
        // That node went away meanwhile: ask the next one.
      }
    }
    return views.map(asNode);
  };

  // Every running node: ok, the same slot owners, and what `expect` asks of its view; a string says
  // why not yet. Cluster state changes by gossip between the nodes, which no client is told of:
  // callers poll this.
  const agreement = async (expect?: (view: NodeView[]) => string | undefined): Promise<NodeView[] | string> => {
    let first: NodeView[] | undefined;
    for (const proc of running()) {
      let info: string;
      let view: NodeView[];
      try {
        info = (await redisCommand(proc.port, 'CLUSTER', 'INFO')) as string;
        view = await readView(proc.port);
      } catch (err) {
        return `node ${proc.port}: ${(err as Error).message}`;
      }
      if (!/cluster_state:ok/.test(info)) return `node ${proc.port}: ${/cluster_state:\w+/.exec(info)?.[0]}`;
      if (!first) first = view;
      else if (!isDeepStrictEqual(slotOwners(view), slotOwners(first))) return `node ${proc.port} disagrees on the slots`;
      const unmet = expect?.(view);
      if (unmet) return `node ${proc.port}: ${unmet}`;
    }
    if (!first) return 'no node is running';
    return first;
  };

  const stop = async () => {
    await Promise.all(processes.map((p) => p.kill('SIGKILL')));
    dir.remove();
  };

  try {
    const nodeArgs = [
      '--cluster-enabled', 'yes',
      '--cluster-config-file', 'nodes.conf',
      '--cluster-node-timeout', String(nodeTimeoutMs),
      // A replica fails over however long it was cut off from its master (the test kills it).
      '--cluster-replica-validity-factor', '0',
      '--cluster-require-full-coverage', options.requireFullCoverage === false ? 'no' : 'yes',
      // Replicas sync at once (the default waits 5 s for more replicas to share one transfer).
      '--repl-diskless-sync-delay', '0',
      '--repl-ping-replica-period', '1',
      ...(options.args ?? []),
    ];
    const total = masterCount * (1 + replicas);
    // allSettled: every start has ended (and its process is in `processes`) before a failure cleans up.
    const starts = await Promise.allSettled(
      Array.from({ length: total }, async (_, i) => {
        for (let attempt = 1; ; attempt++) {
          const [port, busPort] = [await freePort(), await freePort()];
          // Each node its own directory (nodes.conf, log) inside the cluster's.
          const path = join(dir.path, `node-${i}-${port}`);
          mkdirSync(path, { recursive: true });
          const proc = new RedisProcess(port, path, { args: [...nodeArgs, '--cluster-port', String(busPort)] });
          processes.push(proc);
          try {
            await proc.start();
            return;
          } catch (err) {
            processes.splice(processes.indexOf(proc), 1);
            if (!(err instanceof RedisStartError && err.portTaken && attempt < 5)) throw err;
          }
        }
      }),
    );
    const failed = starts.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    // redis-cli makes the first `masters` addresses masters and the rest their replicas.
    await runRedisCli(['--cluster', 'create', ...processes.map((p) => `127.0.0.1:${p.port}`), '--cluster-replicas', String(replicas), '--cluster-yes']);
    views = await pollUntil('cluster agreement after create', startTimeoutMs, () =>
      agreement((view) => {
        if (view.length !== total) return `knows ${view.length} of ${total} nodes`;
        if (view.filter((n) => n.role === 'replica').length !== masterCount * replicas) return 'replicas not all known yet';
        return undefined;
      }),
    );
    // A replica must have synced with its master before it can replace it.
    await pollUntil('replicas linked to their masters', startTimeoutMs, async () => {
      for (const v of views.filter((n) => n.role === 'replica')) {
        if (!/master_link_status:up/.test((await redisCommand(v.port, 'INFO', 'replication')) as string)) return `replica ${v.port} not linked yet`;
      }
      return true;
    });
    // CLUSTER SLOTS (what clients read) lists a replica only once its replication offset is
    // non-zero, which an idle master raises only by its periodic ping (set to 1 s above).
    await pollUntil('replicas listed in CLUSTER SLOTS', startTimeoutMs, async () => {
      for (const proc of processes) {
        const ranges = (await redisCommand(proc.port, 'CLUSTER', 'SLOTS')) as unknown[][];
        if (ranges.some((range) => range.length - 2 < 1 + replicas)) return `node ${proc.port} lists too few replicas`;
      }
      return true;
    });
  } catch (err) {
    await stop();
    throw err;
  }

  const cluster: RedisCluster = {
    get nodes() {
      return views.map(asNode);
    },
    get masters() {
      return views.filter((v) => v.role === 'master' && v.slots.length > 0 && byPort(v.port)?.running).map(asNode);
    },
    nodesString: processes.map((p) => `127.0.0.1:${p.port}`).join(','),
    nodeForSlot(slot) {
      const owner = views.find((v) => v.role === 'master' && v.slots.some(([a, b]) => slot >= a && slot <= b));
      if (!owner) throw new Error(`no node serves slot ${slot}`);
      return asNode(owner);
    },
    async keySlot(key) {
      const proc = running()[0];
      if (!proc) throw new Error('no node is running');
      return Number(await redisCommand(proc.port, 'CLUSTER', 'KEYSLOT', key));
    },
    async kill(node, signal = 'SIGKILL') {
      await processOf(node).kill(signal);
    },
    async revive(node, { timeoutMs = 20_000 } = {}) {
      const proc = processOf(node);
      await proc.start();
      views = await pollUntil(`node ${proc.port} rejoining`, timeoutMs, () =>
        agreement((view) => {
          const self = view.find((v) => v.port === proc.port);
          if (!self || self.failed) return `node ${proc.port} still seen as failed`;
          // A master that was replaced comes back without slots and turns into a replica.
          return self.role === 'master' && self.slots.length === 0 ? `node ${proc.port} not yet a replica` : undefined;
        }),
      );
    },
    async waitForFailover(killed, { timeoutMs = 20_000 } = {}) {
      const port = portOf(killed);
      const before = views.find((v) => v.port === port);
      if (!before || before.role !== 'master') throw new Error(`node ${port} was not a master`);
      views = await pollUntil(`failover of node ${port}`, timeoutMs, () =>
        agreement((view) => {
          const promoted = view.find((v) => v.role === 'master' && v.id !== before.id && v.slots.length > 0 && isDeepStrictEqual(v.slots, before.slots));
          if (!promoted) return `no node serves ${JSON.stringify(before.slots)} yet`;
          return byPort(promoted.port)?.running ? undefined : `node ${promoted.port} serves them but is not running`;
        }),
      );
      return asNode(views.find((v) => v.role === 'master' && isDeepStrictEqual(v.slots, before.slots))!);
    },
    async waitForAgreement({ timeoutMs = 20_000 } = {}) {
      views = await pollUntil('cluster agreement', timeoutMs, () => agreement());
    },
    refresh,
    stop,
  };
  return cluster;
}
