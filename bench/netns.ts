/**
 * A "remote host" for the benchmark: a network namespace joined to the root namespace by a veth pair, shaped to a
 * given rate both ways with `tc`, so everything that crosses it (SSH, rsync's file list and data, Docker over
 * `docker system dial-stdio`) pays for the link. Addresses are private /30s (10.213.0.x) that exist only inside
 * these namespaces. Nothing here touches any other interface or namespace.
 */
import { execa } from 'execa';

export interface LinkShape {
  /** Rate each way, Mbit/s. */
  rateMbit: number;
  /** Added one-way delay, ms (needs the kernel's netem; 0 = none). */
  delayMs: number;
}

export interface LinkCounters {
  /** Bytes the root-side end received (from the namespace). */
  rxBytes: number;
  /** Bytes the root-side end sent (into the namespace). */
  txBytes: number;
}

export interface NetnsHost {
  /** Namespace name (`ip netns`). */
  readonly ns: string;
  /** Root-side veth end. */
  readonly hostIf: string;
  /** Namespace-side veth end. */
  readonly nsIf: string;
  /** Address of the root side (the service's host on this link). */
  readonly hostAddress: string;
  /** Address of the namespace side (the remote host). */
  readonly nsAddress: string;
  /** What shapes the link, as applied (e.g. `netem delay 1ms rate 200mbit`). */
  readonly shaping: string;
  /** Why the wanted shape could not be applied exactly (e.g. no netem in this kernel), or null. */
  readonly shapingNote: string | null;
  counters(): Promise<LinkCounters>;
  remove(): Promise<void>;
}

function exec(argv: string[]) {
  const [cmd, ...args] = argv;
  return execa(cmd ?? 'true', args, { reject: false });
}

async function run(argv: string[], what: string): Promise<string> {
  const r = await exec(argv);
  if (r.exitCode !== 0) {
    throw new Error(`${what}: \`${argv.join(' ')}\` failed (exit ${r.exitCode}): ${r.stderr.trim()}`);
  }
  return r.stdout;
}

/** Removes what an earlier, interrupted run may have left under these names (they are the benchmark's own). */
async function removeLeftovers(ns: string, hostIf: string): Promise<void> {
  await exec(['ip', 'link', 'del', hostIf]);
  await exec(['ip', 'netns', 'del', ns]);
}

/**
 * Shapes egress of `dev` (in `ns` when given): netem (rate and delay) where the kernel has it, else tbf (rate
 * only). Returns what was applied and, for the fallback, why.
 */
async function shape(
  dev: string,
  ns: string | null,
  link: LinkShape,
): Promise<{ applied: string; note: string | null }> {
  const tc = [...(ns ? ['ip', 'netns', 'exec', ns] : []), 'tc', 'qdisc', 'add', 'dev', dev, 'root'];
  const tbf = tbfArgs(link.rateMbit);
  if (link.delayMs > 0) {
    // limit: packets queued, well above the bandwidth-delay product at these rates.
    const netem = ['netem', 'delay', `${link.delayMs}ms`, 'rate', `${link.rateMbit}mbit`, 'limit', '10000'];
    const r = await exec([...tc, ...netem]);
    if (r.exitCode === 0) return { applied: netem.join(' '), note: null };
    await run([...tc, ...tbf], `shaping ${dev}`);
    return {
      applied: tbf.join(' '),
      note: `netem is not available in this kernel (\`tc qdisc add ... netem\`: ${r.stderr.trim()}), so the link has its rate (tbf) but no added delay: its round trip is the veth's own (well under 0.1 ms)`,
    };
  }
  await run([...tc, ...tbf], `shaping ${dev}`);
  return { applied: tbf.join(' '), note: null };
}

/** tbf: the rate, a bucket of 10 ms of traffic (at least 64 KiB, one GSO packet), 20 ms of queue. */
function tbfArgs(rateMbit: number): string[] {
  const burst = Math.max(64 * 1024, Math.round((rateMbit * 1e6) / 8 / 100));
  return ['tbf', 'rate', `${rateMbit}mbit`, 'burst', String(burst), 'latency', '20ms'];
}

/**
 * Creates namespace `ns` with a veth pair to the root namespace: `<hostAddress>/30` on the root side,
 * `<nsAddress>/30` inside, loopback up inside, both ends shaped to `link`.
 */
export async function createNetnsHost(options: {
  ns: string;
  /** Interface name stem, at most 12 characters (`<stem>-h` root side, `<stem>-n` inside). */
  stem: string;
  hostAddress: string;
  nsAddress: string;
  link: LinkShape;
}): Promise<NetnsHost> {
  const { ns, stem, hostAddress, nsAddress, link } = options;
  if (stem.length > 12) throw new Error(`interface stem ${stem} is longer than 12 characters`);
  const hostIf = `${stem}-h`;
  const nsIf = `${stem}-n`;
  await removeLeftovers(ns, hostIf);
  const remove = async () => {
    await removeLeftovers(ns, hostIf);
  };
  try {
    await run(['ip', 'netns', 'add', ns], 'creating the namespace');
    await run(
      ['ip', 'link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf, 'netns', ns],
      'creating the veth pair',
    );
    await run(['ip', 'addr', 'add', `${hostAddress}/30`, 'dev', hostIf], 'addressing the root side');
    await run(['ip', 'link', 'set', hostIf, 'up'], 'bringing the root side up');
    await run(
      ['ip', '-n', ns, 'addr', 'add', `${nsAddress}/30`, 'dev', nsIf],
      'addressing the namespace side',
    );
    await run(['ip', '-n', ns, 'link', 'set', nsIf, 'up'], 'bringing the namespace side up');
    await run(['ip', '-n', ns, 'link', 'set', 'lo', 'up'], 'bringing the namespace loopback up');
    const out = await shape(hostIf, null, link);
    const back = await shape(nsIf, ns, link);
    return {
      ns,
      hostIf,
      nsIf,
      hostAddress,
      nsAddress,
      shaping: `${out.applied} (each way)`,
      shapingNote: out.note ?? back.note,
      async counters() {
        const json = await run(
          ['ip', '-s', '-j', 'link', 'show', 'dev', hostIf],
          `reading ${hostIf} counters`,
        );
        const parsed = JSON.parse(json) as Array<{
          stats64?: { rx?: { bytes?: number }; tx?: { bytes?: number } };
        }>;
        const stats = parsed[0]?.stats64;
        if (stats?.rx?.bytes === undefined || stats.tx?.bytes === undefined) {
          throw new Error(`ip -s -j link show dev ${hostIf} gave no byte counters: ${json.slice(0, 200)}`);
        }
        return { rxBytes: stats.rx.bytes, txBytes: stats.tx.bytes };
      },
      remove,
    };
  } catch (err) {
    await remove();
    throw err;
  }
}

/** Bytes that crossed a link between two counter readings, both ways. */
export function linkBytes(before: LinkCounters, after: LinkCounters): number {
  return after.rxBytes - before.rxBytes + (after.txBytes - before.txBytes);
}
